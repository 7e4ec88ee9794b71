//! The API's clock, as each response's `Date` header gives it. A sync trusts this host's clock
//! for run times and the watermark's cap; when the two clocks disagree by minutes, one of them
//! is wrong, and the operator hears it once per client (once per daemon, or per key reload).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, DATE};
use tracing::warn;

/// A difference beyond this is worth a warning; below it, it is network time and rounding.
const TOLERANCE: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Default)]
pub(super) struct ServerClock {
    warned: AtomicBool,
}

impl ServerClock {
    /// Warns (once) when the response's `Date` differs from this host's time by more than
    /// [`TOLERANCE`].
    pub(super) fn check(&self, headers: &HeaderMap) {
        let Some(date) = headers.get(DATE).and_then(|v| v.to_str().ok()) else {
            return;
        };
        let Some(ahead) = skew(date, SystemTime::now()) else {
            return;
        };
        if !self.warned.swap(true, Ordering::Relaxed) {
            let direction = if ahead > 0 { "ahead of" } else { "behind" };
            warn!(
                "the API's clock (Date: {date}) is {} s {direction} this host's; run times and \
                 the watermark use this host's clock, so check which one is wrong",
                ahead.unsigned_abs()
            );
        }
    }
}

/// Seconds the server's clock is ahead of `now` (negative: behind), when past the tolerance.
fn skew(date: &str, now: SystemTime) -> Option<i64> {
    let server = httpdate::parse_http_date(date.trim()).ok()?;
    let ahead = match server.duration_since(now) {
        Ok(d) => i64::try_from(d.as_secs()).ok()?,
        Err(e) => -i64::try_from(e.duration().as_secs()).ok()?,
    };
    (ahead.unsigned_abs() > TOLERANCE.as_secs()).then_some(ahead)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        httpdate::parse_http_date("Tue, 01 Dec 2026 10:00:00 GMT").unwrap()
    }

    #[test]
    fn a_date_within_minutes_is_no_skew() {
        assert_eq!(skew("Tue, 01 Dec 2026 10:04:00 GMT", now()), None);
        assert_eq!(skew("Tue, 01 Dec 2026 09:56:00 GMT", now()), None);
    }

    #[test]
    fn a_server_an_hour_ahead_or_behind_is_skewed() {
        assert_eq!(skew("Tue, 01 Dec 2026 11:00:00 GMT", now()), Some(3600));
        assert_eq!(skew("Tue, 01 Dec 2026 09:00:00 GMT", now()), Some(-3600));
    }

    #[test]
    fn an_unreadable_date_says_nothing() {
        assert_eq!(skew("yesterday", now()), None);
    }
}
