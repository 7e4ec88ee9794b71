//! The API's timestamp text, `YYYY-MM-DD HH:MM:SS` in UTC, to and from Unix seconds.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};

pub(super) fn push_ts(out: &mut String, secs: i64) {
    let Some(t) = DateTime::from_timestamp(secs, 0) else {
        return out.push_str("0000-00-00 00:00:00");
    };
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

pub(super) fn format_ts(secs: i64) -> String {
    let mut s = String::with_capacity(19);
    push_ts(&mut s, secs);
    s
}

/// Accepts the API's `YYYY-MM-DD HH:MM:SS`, a `T` separator, a trailing `Z`, or a bare date.
pub(super) fn parse_ts(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('Z');
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}
