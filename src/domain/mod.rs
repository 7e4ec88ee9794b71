//! Newtypes shared by every layer, so that a key, a scope or a watermark can never be
//! confused with an arbitrary string.

mod group;

pub use group::{BadTimestamp, GroupRecord, RejectedRecord};

use std::fmt;

use chrono::{Datelike, Days, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use sha2::{Digest, Sha256};

/// The one timestamp format of the database: UTC, second precision, sortable as text.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Formats a UTC timestamp the way every column of the database stores it. Written out by
/// hand: two of these per record were a visible share of a full sync's time through
/// chrono's format-string interpreter.
pub fn format_timestamp(t: NaiveDateTime) -> String {
    let (year, month, day) = (t.year(), t.month(), t.day());
    if !(0..=9999).contains(&year) {
        return t.format(TIMESTAMP_FORMAT).to_string();
    }
    let (hour, minute, second) = (t.hour(), t.minute(), t.second());
    let mut out = String::with_capacity(19);
    for (n, width, sep) in [
        (year as u32, 4, '-'),
        (month, 2, '-'),
        (day, 2, ' '),
        (hour, 2, ':'),
        (minute, 2, ':'),
        (second, 2, '\0'),
    ] {
        for place in (0..width).rev() {
            let digit = (n / 10u32.pow(place)) % 10;
            out.push(char::from(b'0' + digit as u8));
        }
        if sep != '\0' {
            out.push(sep);
        }
    }
    out
}

/// A duration for people: milliseconds under a second (a fast run is not "0.0s"), else
/// seconds with one decimal.
pub fn format_millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// The current UTC time, truncated to the database's second precision.
pub fn now_utc() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now - Duration::nanoseconds(i64::from(now.and_utc().timestamp_subsec_nanos()))
}

/// The xtrakit API key. It is never printed: `Debug` and `Display` show only the
/// fingerprint, which is what logs, the database and `status` may carry.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Trims surrounding whitespace (key files usually end in a newline); `None` when empty.
    pub fn new(raw: &str) -> Option<ApiKey> {
        let key = raw.trim();
        (!key.is_empty()).then(|| ApiKey(key.to_owned()))
    }

    /// The secret itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `sha256:` and the first 8 hex digits of the key's SHA-256: enough to tell two keys
    /// apart in `auth_failures`, useless for recovering the key.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.fingerprint())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

/// What one sync covers: one business code, or everything the key can see.
/// Each scope has its own watermark and its own run rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    business_code: Option<i64>,
}

impl Scope {
    pub const ALL: Scope = Scope {
        business_code: None,
    };

    pub fn business(code: i64) -> Scope {
        Scope {
            business_code: Some(code),
        }
    }

    pub fn business_code(&self) -> Option<i64> {
        self.business_code
    }

    /// The scopes a configuration asks for: one per code, or the single unfiltered one.
    pub fn from_codes(codes: &[i64]) -> Vec<Scope> {
        if codes.is_empty() {
            return vec![Scope::ALL];
        }
        let mut scopes: Vec<Scope> = Vec::with_capacity(codes.len());
        for &code in codes {
            if !scopes.contains(&Scope::business(code)) {
                scopes.push(Scope::business(code));
            }
        }
        scopes
    }

    /// The key of `sync_state.scope`: `all` or `business_code=N`.
    pub fn key(&self) -> String {
        match self.business_code {
            None => "all".to_owned(),
            Some(code) => format!("business_code={code}"),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// The greatest `updated_at` a successful run committed, capped at that run's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Watermark(NaiveDateTime);

impl Watermark {
    pub fn new(t: NaiveDateTime) -> Watermark {
        Watermark(t)
    }

    /// Reads the stored text form; `None` for anything that is not `YYYY-MM-DD HH:MM:SS`.
    pub fn parse(stored: &str) -> Option<Watermark> {
        NaiveDateTime::parse_from_str(stored, TIMESTAMP_FORMAT)
            .ok()
            .map(Watermark)
    }

    /// The instant itself; only the tests compare it, the sync uses the text form.
    #[cfg(test)]
    fn at(&self) -> NaiveDateTime {
        self.0
    }

    /// The `updated_at` filter of an incremental request: the watermark's date less the
    /// look-back, because the API filters by whole days and clocks disagree.
    ///
    /// Total for every watermark and look-back: a look-back reaching before the first date
    /// chrono can hold asks for everything from that date, which is what such a look-back
    /// means, rather than panicking mid-run and leaving the run `running`.
    pub fn filter_date(&self, lookback_days: u32) -> NaiveDate {
        self.0
            .date()
            .checked_sub_days(Days::new(u64::from(lookback_days)))
            .unwrap_or(NaiveDate::MIN)
    }

    /// The watermark after a successful run: never backwards, never past the run's start.
    pub fn advance(
        before: Option<Watermark>,
        newest_seen: Option<NaiveDateTime>,
        run_started: NaiveDateTime,
    ) -> Option<Watermark> {
        let capped = newest_seen.map(|t| Watermark(t.min(run_started)));
        before.max(capped)
    }
}

impl fmt::Display for Watermark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_timestamp(self.0))
    }
}

/// What started a run (`sync_runs.trigger`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Startup,
    Once,
}

impl Trigger {
    pub fn as_str(&self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Startup => "startup",
            Trigger::Once => "once",
        }
    }
}

/// Whether a run asks only for recent changes or for everything (`sync_runs.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Incremental,
    Full,
}

impl Mode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Incremental => "incremental",
            Mode::Full => "full",
        }
    }
}

/// How a run ended (`sync_runs.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Success,
    Failed,
    AuthFailed,
    Interrupted,
}

impl RunStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
            RunStatus::AuthFailed => "auth_failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations_show_as_milliseconds_long_ones_as_seconds() {
        assert_eq!(format_millis(0), "0 ms");
        assert_eq!(format_millis(42), "42 ms");
        assert_eq!(format_millis(999), "999 ms");
        assert_eq!(format_millis(1000), "1.0s");
        assert_eq!(format_millis(61_250), "61.2s");
    }

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, TIMESTAMP_FORMAT).unwrap()
    }

    #[test]
    fn key_debug_shows_only_the_fingerprint() {
        let key = ApiKey::new("  s3cret-key\n").unwrap();
        assert_eq!(key.expose(), "s3cret-key");
        let shown = format!("{key:?} {key}");
        assert!(!shown.contains("s3cret"));
        assert!(shown.contains("sha256:"));
        assert_eq!(key.fingerprint().len(), "sha256:".len() + 8);
    }

    #[test]
    fn timestamps_are_formatted_like_the_database_wants() {
        let t = t("2024-03-07 04:05:09");
        assert_eq!(format_timestamp(t), "2024-03-07 04:05:09");
        assert_eq!(format_timestamp(t), t.format(TIMESTAMP_FORMAT).to_string());
        let far = chrono::NaiveDate::from_ymd_opt(12345, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(
            format_timestamp(far),
            far.format(TIMESTAMP_FORMAT).to_string()
        );
    }

    #[test]
    fn blank_key_is_no_key() {
        assert!(ApiKey::new(" \n").is_none());
    }

    #[test]
    fn watermark_never_passes_the_run_start_nor_goes_back() {
        let start = t("2026-01-10 12:00:00");
        let before = Some(Watermark::new(t("2026-01-05 00:00:00")));
        let future = Some(t("2099-01-01 00:00:00"));
        assert_eq!(
            Watermark::advance(before, future, start),
            Some(Watermark::new(start))
        );
        let older = Some(t("2025-01-01 00:00:00"));
        assert_eq!(Watermark::advance(before, older, start), before);
        assert_eq!(Watermark::advance(None, None, start), None);
    }

    #[test]
    fn filter_date_subtracts_the_lookback() {
        let w = Watermark::new(t("2026-03-01 08:00:00"));
        assert_eq!(w.filter_date(1).to_string(), "2026-02-28");
        assert_eq!(w.filter_date(0).to_string(), "2026-03-01");
    }

    #[test]
    fn filter_date_never_panics_and_stops_at_the_earliest_date() {
        let earliest = Watermark::new(NaiveDate::MIN.and_hms_opt(0, 0, 0).unwrap_or_default());
        let latest = Watermark::new(NaiveDateTime::MAX);
        for w in [earliest, latest, Watermark::new(t("2026-03-01 08:00:00"))] {
            for days in [0, 1, 3650, 100_000_000, u32::MAX] {
                assert!(w.filter_date(days) <= w.at().date(), "{w} less {days} days");
            }
        }
        assert_eq!(earliest.filter_date(1), NaiveDate::MIN);
        let w = Watermark::new(t("2026-03-01 08:00:00"));
        assert_eq!(w.filter_date(100_000_000), NaiveDate::MIN);
        assert_eq!(w.filter_date(u32::MAX), NaiveDate::MIN);
    }

    #[test]
    fn scopes_from_codes_are_unique_and_default_to_all() {
        assert_eq!(Scope::from_codes(&[]), vec![Scope::ALL]);
        assert_eq!(Scope::from_codes(&[2, 2, 3]).len(), 2);
        assert_eq!(Scope::business(7).key(), "business_code=7");
    }
}
