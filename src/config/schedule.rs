//! Cron schedules. tokio-cron-scheduler 0.15 hands its expressions to croner 3 with seconds
//! required, while operators mostly write classic 5-field cron; both are accepted here and
//! checked with the very parser configuration the scheduler uses, so a schedule that loads
//! can never fail later when the job is created.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use croner::parser::{CronParser, Seconds};

/// A cron schedule, checked when the configuration loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSchedule {
    /// As the user wrote it.
    pub original: String,
    /// Six fields (seconds first), as tokio-cron-scheduler wants it.
    pub six_field: String,
}

impl CronSchedule {
    /// Accepts 5 fields (minute first, run at second 0) or 6 fields (seconds first), UTC.
    /// Nicknames such as `@daily` and a 7th (year) field are refused: the README promises only the
    /// two classic forms, and refusing keeps `six_field` always six fields.
    pub fn parse(expr: &str) -> Result<CronSchedule, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let six_field = match fields.len() {
            0 => return Err("empty cron expression".to_owned()),
            5 => format!("0 {}", fields.join(" ")),
            6 => fields.join(" "),
            n => {
                return Err(format!(
                    "cron expression {expr:?} has {n} fields; expected 5 (minute hour \
                     day-of-month month day-of-week) or 6 (seconds first)"
                ))
            }
        };
        let cron = scheduler_parser()
            .parse(&six_field)
            .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))?;
        // The scheduler would accept a date that never comes (say 31 February) and then
        // never sync; ask for its next time now instead.
        if cron.find_next_occurrence(&Utc::now(), false).is_err() {
            return Err(format!(
                "cron expression {expr:?} never fires (no such date); day-of-month and \
                 day-of-week must both match (AND, unlike classic cron's OR)"
            ));
        }
        Ok(CronSchedule {
            original: expr.trim().to_owned(),
            six_field,
        })
    }
}

impl CronSchedule {
    /// The latest time at or before `now` when the schedule fired: a full sync scheduled
    /// then is due until one has succeeded since.
    pub fn previous_fire(&self, now: DateTime<Utc>) -> Option<NaiveDateTime> {
        let cron = scheduler_parser().parse(&self.six_field).ok()?;
        let at = cron.find_previous_occurrence(&now, true).ok()?;
        Some(at.naive_utc())
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// The parser tokio-cron-scheduler 0.15 builds in `Job::new*`.
fn scheduler_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_cron_gets_a_zero_seconds_field() {
        let s = CronSchedule::parse("*/15 * * * *").unwrap();
        assert_eq!(s.six_field, "0 */15 * * * *");
        assert_eq!(s.original, "*/15 * * * *");
    }

    #[test]
    fn six_field_cron_is_kept_as_written() {
        let s = CronSchedule::parse("30 0 3 * * SUN").unwrap();
        assert_eq!(s.six_field, "30 0 3 * * SUN");
    }

    #[test]
    fn garbage_cron_is_rejected() {
        assert!(CronSchedule::parse("every monday").is_err());
        assert!(CronSchedule::parse("61 * * * *").is_err());
        assert!(CronSchedule::parse("* * * * * * * *").is_err());
    }

    #[test]
    fn seven_field_and_nickname_crons_are_rejected() {
        assert!(CronSchedule::parse("0 0 3 * * * 2030").is_err());
        assert!(CronSchedule::parse("@daily").is_err());
    }

    #[test]
    fn a_cron_that_can_never_fire_is_rejected() {
        let err = CronSchedule::parse("0 0 31 2 *").unwrap_err();
        assert!(err.contains("never fires"), "{err}");
    }

    #[test]
    fn previous_fire_is_the_latest_time_at_or_before_now() {
        let weekly = CronSchedule::parse("30 3 * * SUN").unwrap();
        let now = "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let at = weekly.previous_fire(now).unwrap();
        assert_eq!(at.to_string(), "2026-11-29 03:30:00");
        let exactly = "2026-11-29T03:30:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(weekly.previous_fire(exactly), Some(at));
    }

    #[test]
    fn empty_cron_is_rejected() {
        assert!(CronSchedule::parse("  ").is_err());
    }
}
