//! The allowed range of every numeric setting (the README's Configuration section), in one table so the README,
//! the checks and the tests cannot drift apart.
//!
//! Bounds exist so that no value, however absurd, reaches arithmetic that can overflow or a
//! timer that can never fire: a value outside its range is a configuration error (exit 2)
//! naming the key, its source and the range, before anything is opened or requested.

/// An inclusive integer range for one setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    pub key: &'static str,
    pub min: i64,
    pub max: i64,
}

impl Bound {
    /// `None` when `value` is allowed, else the message that says what is.
    pub fn violation(&self, value: i64) -> Option<String> {
        (!(self.min..=self.max).contains(&value))
            .then(|| format!("must be between {} and {}, got {value}", self.min, self.max))
    }
}

/// README: up to ten years of look-back. More only re-fetches everything (a full run does that)
/// and, unbounded, once overflowed the date arithmetic.
pub const LOOKBACK_DAYS: Bound = bound("lookback_days", 0, 3650);

/// README: at least a second (0 would fail every request), at most an hour.
pub const REQUEST_TIMEOUT_SECS: Bound = bound("request_timeout_secs", 1, 3600);

/// README: 0 (never retry) to 100; past that a failing API would hold the lock for hours.
pub const MAX_RETRIES: Bound = bound("max_retries", 0, 100);

/// 1 ms (tests) to 60 000 ms: the backoff is capped at one minute per step anyway, so a
/// larger base is almost always seconds written where milliseconds were meant.
pub const RETRY_BASE_DELAY_MS: Bound = bound("retry_base_delay_ms", 1, 60_000);

/// A loop guard: 1 to a million pages. A million pages of even ten rows is ten million
/// groups, far past any account; beyond that the guard would no longer guard anything.
pub const MAX_PAGES: Bound = bound("max_pages", 1, 1_000_000);

/// Pages of a page-numbered listing fetched at once: 1 (one after another) to 16; past that
/// the gain over a network is small and the load on the API is not.
pub const MAX_CONCURRENT_REQUESTS: Bound = bound("max_concurrent_requests", 1, 16);

/// 1 KiB (smaller cannot hold an error body) to 1 GiB: a page is held in memory whole, so
/// this cap is the daemon's memory bound and must stay below what a small host has.
pub const MAX_RESPONSE_BYTES: Bound = bound("max_response_bytes", 1024, 1 << 30);

/// README: 0 (do not wait) to a day.
pub const LOCK_WAIT_SECS: Bound = bound("lock_wait_secs", 0, 86_400);

/// Days that `sync_log` events and `sync_runs` rows are kept: a day to a hundred years.
pub const RETENTION_DAYS: Bound = bound("retention_days", 1, 36_500);

/// Days that history rows are kept, when set at all (unset: kept for ever).
pub const HISTORY_RETENTION_DAYS: Bound = bound("history_retention_days", 1, 36_500);

/// Each business code: an identifier, so never negative, and the API's filter is an `int`,
/// so a code past the largest 32-bit integer could never match anything.
pub const BUSINESS_CODE: Bound = bound("business_codes", 0, i32::MAX as i64);

/// `/healthz` turns 503 when a scope's last success is older than this: a minute (shorter
/// than a request can take) to a year, as `status --check --max-age`.
pub const HEALTH_MAX_AGE_SECS: Bound = bound("health_max_age_secs", 60, 366 * 86_400);

/// Every integer bound, in the order of the README's table.
pub const ALL: [Bound; 12] = [
    LOOKBACK_DAYS,
    REQUEST_TIMEOUT_SECS,
    MAX_RETRIES,
    RETRY_BASE_DELAY_MS,
    MAX_PAGES,
    MAX_CONCURRENT_REQUESTS,
    MAX_RESPONSE_BYTES,
    LOCK_WAIT_SECS,
    RETENTION_DAYS,
    HISTORY_RETENTION_DAYS,
    BUSINESS_CODE,
    HEALTH_MAX_AGE_SECS,
];

const fn bound(key: &'static str, min: i64, max: i64) -> Bound {
    Bound { key, min, max }
}

/// The range of the numeric setting `key` in words, for errors that arise before a value
/// exists to check (a number too large for TOML, a string where a number belongs).
pub fn allowed(key: &str) -> Option<String> {
    if key == "delete_guard_fraction" {
        return Some("a number between 0 and 1".to_owned());
    }
    let b = ALL.iter().find(|b| b.key == key)?;
    let what = if b.key == BUSINESS_CODE.key {
        "a list of integers, each"
    } else {
        "an integer"
    };
    Some(format!("{what} between {} and {}", b.min, b.max))
}

/// `delete_guard_fraction`: a share of the live rows, so 0 to 1; NaN and the infinities are
/// refused because every comparison with NaN is false and the guard would never trip.
pub fn fraction_violation(value: f64) -> Option<String> {
    (!(value.is_finite() && (0.0..=1.0).contains(&value)))
        .then(|| format!("must be a number between 0 and 1, got {value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_of_a_range_are_allowed_and_one_past_is_not() {
        for b in ALL {
            assert_eq!(b.violation(b.min), None, "{}", b.key);
            assert_eq!(b.violation(b.max), None, "{}", b.key);
            assert!(b.violation(b.min - 1).is_some(), "{}", b.key);
            assert!(b.violation(b.max + 1).is_some(), "{}", b.key);
        }
    }

    #[test]
    fn every_maximum_fits_the_type_the_setting_is_stored_in() {
        for b in ALL {
            assert!(u32::try_from(b.max).is_ok(), "{}", b.key);
            assert!(b.min >= 0, "{}", b.key);
        }
    }

    #[test]
    fn the_violation_message_states_the_range_and_the_value() {
        let message = LOOKBACK_DAYS.violation(100_000_000).unwrap_or_default();
        assert_eq!(message, "must be between 0 and 3650, got 100000000");
    }

    #[test]
    fn allowed_describes_numeric_settings_only() {
        let lookback = allowed("lookback_days").unwrap_or_default();
        assert_eq!(lookback, "an integer between 0 and 3650");
        assert!(allowed("business_codes").is_some_and(|a| a.contains("list")));
        assert!(allowed("delete_guard_fraction").is_some());
        assert_eq!(allowed("database"), None);
    }

    #[test]
    fn fraction_refuses_nan_infinities_and_values_outside_zero_to_one() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.01, 1.01] {
            assert!(fraction_violation(bad).is_some(), "{bad}");
        }
        for good in [0.0, 0.5, 1.0] {
            assert_eq!(fraction_violation(good), None, "{good}");
        }
    }
}
