//! Cron schedules. tokio-cron-scheduler 0.15 hands its expressions to croner 3 with seconds
//! required, while operators mostly write classic 5-field cron; both are accepted here and
//! checked with the very parser configuration the scheduler uses, so a schedule that loads
//! can never fail later when the job is created.

use std::fmt;

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
    /// Nicknames such as `@daily` and a 7th (year) field are refused: SPEC promises only the
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
        scheduler_parser()
            .parse(&six_field)
            .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))?;
        Ok(CronSchedule {
            original: expr.trim().to_owned(),
            six_field,
        })
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
    fn empty_cron_is_rejected() {
        assert!(CronSchedule::parse("  ").is_err());
    }
}
