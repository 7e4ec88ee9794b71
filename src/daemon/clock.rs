//! Wall-clock steps. The scheduler computes each next tick from wall time, so a clock stepped
//! back by a day (a wrong RTC corrected, a VM restored) would hold every tick for that day,
//! silently. A watch compares the wall clock with the monotonic one and reports a step, after
//! which the schedule is computed again from the new time.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the clocks are compared.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// A difference larger than this between the two clocks' progress is a step, not drift.
const STEP: TimeDelta = TimeDelta::seconds(30);

/// How far the wall clock moved beyond the time that truly passed (negative: stepped back),
/// if that is a step.
pub(super) fn step(
    wall_before: DateTime<Utc>,
    wall_now: DateTime<Utc>,
    passed: Duration,
) -> Option<TimeDelta> {
    let passed = TimeDelta::from_std(passed).ok()?;
    let moved = wall_now - wall_before - passed;
    (moved.abs() > STEP).then_some(moved)
}

/// A step in words: "back by 86400 s" or "forward by 3600 s".
pub(super) fn describe(step: TimeDelta) -> String {
    let direction = if step < TimeDelta::zero() {
        "back"
    } else {
        "forward"
    };
    format!("{direction} by {} s", step.num_seconds().abs())
}

/// Sends every step seen until `cancel`.
pub(super) fn watch(cancel: CancellationToken) -> mpsc::UnboundedReceiver<TimeDelta> {
    let (steps, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut wall, mut mono) = (Utc::now(), Instant::now());
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
            let (wall_now, mono_now) = (Utc::now(), Instant::now());
            if let Some(moved) = step(wall, wall_now, mono_now - mono) {
                if steps.send(moved).is_err() {
                    return;
                }
            }
            (wall, mono) = (wall_now, mono_now);
        }
    });
    received
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const FIVE_S: Duration = Duration::from_secs(5);

    #[test]
    fn clocks_that_agree_are_no_step() {
        let before = at("2026-12-01T10:00:00Z");
        assert_eq!(step(before, at("2026-12-01T10:00:05Z"), FIVE_S), None);
        // A second of drift or a late wake-up is not a step either.
        assert_eq!(step(before, at("2026-12-01T10:00:06Z"), FIVE_S), None);
        assert_eq!(
            step(before, at("2026-12-01T10:00:20Z"), Duration::from_secs(20)),
            None
        );
    }

    #[test]
    fn a_clock_stepped_back_a_day_is_a_step_back() {
        let moved = step(
            at("2026-12-01T10:00:00Z"),
            at("2026-11-30T10:00:05Z"),
            FIVE_S,
        );
        assert_eq!(moved, Some(TimeDelta::days(-1)));
        assert_eq!(describe(TimeDelta::days(-1)), "back by 86400 s");
    }

    #[test]
    fn a_clock_stepped_forward_an_hour_is_a_step_forward() {
        let moved = step(
            at("2026-12-01T10:00:00Z"),
            at("2026-12-01T11:00:05Z"),
            FIVE_S,
        );
        assert_eq!(moved, Some(TimeDelta::hours(1)));
        assert_eq!(describe(TimeDelta::hours(1)), "forward by 3600 s");
    }
}
