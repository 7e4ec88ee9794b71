//! The health verdict of `status --check` and `status --json`: every scope must have
//! succeeded within `--max-age`. One line says why not, for a cron job's mail or a
//! container's health check; the JSON carries the same verdict for monitoring.

use std::time::Duration;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::domain::TIMESTAMP_FORMAT;
use crate::store::ScopeStatus;

/// `--max-age` when not given: eight missed 15-minute ticks.
pub(super) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(2 * 3600);
/// The longest `--max-age` accepted: a year.
const MAX_MAX_AGE_SECS: u64 = 366 * 86_400;

/// One scope's verdict.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub(crate) struct ScopeHealth {
    pub scope: String,
    pub healthy: bool,
    pub last_success_at: Option<String>,
    /// Seconds since the last success, when there was one.
    pub age_secs: Option<i64>,
    /// Why the scope is unhealthy, in words; `None` when healthy.
    pub problem: Option<String>,
}

/// The verdict over every scope judged.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub(crate) struct Health {
    pub healthy: bool,
    pub max_age_secs: u64,
    /// The one line `status --check` prints.
    pub summary: String,
    pub scopes: Vec<ScopeHealth>,
}

/// Reads `--max-age`: a whole number with a unit, `s`, `m`, `h` or `d` (`90m`, `2h`, `1d`).
pub(super) fn parse_max_age(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{raw:?} is not an age like 90m, 2h or 1d")),
    };
    let secs = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_secs))
        .filter(|secs| (1..=MAX_MAX_AGE_SECS).contains(secs))
        .ok_or_else(|| format!("{raw:?} must be between 1s and 366d"))?;
    Ok(Duration::from_secs(secs))
}

/// Judges `scopes` (their names and state) at `now`. `expected` are scope names that must
/// be there even if they never ran (the configured ones).
pub(crate) fn judge(
    scopes: &[ScopeStatus],
    expected: &[String],
    max_age: Duration,
    now: NaiveDateTime,
) -> Health {
    let max_age_secs = max_age.as_secs();
    let mut verdicts: Vec<ScopeHealth> = expected
        .iter()
        .map(|name| match scopes.iter().find(|s| &s.scope == name) {
            Some(scope) => judge_scope(scope, max_age_secs, now),
            None => never(name),
        })
        .collect();
    if verdicts.is_empty() {
        verdicts = scopes
            .iter()
            .map(|s| judge_scope(s, max_age_secs, now))
            .collect();
    }
    let problems: Vec<&str> = verdicts
        .iter()
        .filter_map(|v| v.problem.as_deref())
        .collect();
    let healthy = problems.is_empty() && !verdicts.is_empty();
    let summary = if verdicts.is_empty() {
        "unhealthy: no sync has run yet".to_owned()
    } else if healthy {
        format!(
            "ok: every scope ({}) succeeded within {}",
            verdicts.len(),
            show_age(max_age_secs)
        )
    } else {
        format!("unhealthy: {}", problems.join("; "))
    };
    Health {
        healthy,
        max_age_secs,
        summary,
        scopes: verdicts,
    }
}

fn never(name: &str) -> ScopeHealth {
    ScopeHealth {
        scope: name.to_owned(),
        healthy: false,
        last_success_at: None,
        age_secs: None,
        problem: Some(format!("scope {name} never succeeded")),
    }
}

fn judge_scope(scope: &ScopeStatus, max_age_secs: u64, now: NaiveDateTime) -> ScopeHealth {
    let Some(at) = scope.last_success_at.as_deref() else {
        let mut verdict = never(&scope.scope);
        if let Some(run) = &scope.last_run {
            let error = run.error.as_deref().unwrap_or(&run.status);
            verdict.problem = Some(format!(
                "scope {} never succeeded (last run {}: {error})",
                scope.scope, run.status
            ));
        }
        return verdict;
    };
    let age = NaiveDateTime::parse_from_str(at, TIMESTAMP_FORMAT)
        .map(|t| (now - t).num_seconds().max(0))
        .ok();
    let stale = age.is_none_or(|secs| secs.unsigned_abs() > max_age_secs);
    let problem = stale.then(|| {
        let ago = age.map_or_else(
            || "unreadable time".to_owned(),
            |s| format!("{} ago", show_age(s.unsigned_abs())),
        );
        format!(
            "scope {} last succeeded {at} ({ago}, more than {})",
            scope.scope,
            show_age(max_age_secs)
        )
    });
    ScopeHealth {
        scope: scope.scope.clone(),
        healthy: !stale,
        last_success_at: Some(at.to_owned()),
        age_secs: age,
        problem,
    }
}

/// `45s`, `12m`, `2h 5m`, `3d 4h`: an age to the unit that matters.
fn show_age(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, TIMESTAMP_FORMAT).unwrap()
    }

    fn scope(name: &str, last_success: Option<&str>) -> ScopeStatus {
        ScopeStatus {
            scope: name.to_owned(),
            business_code: None,
            watermark: None,
            last_success_at: last_success.map(str::to_owned),
            last_full_sync_at: None,
            last_run: None,
        }
    }

    const NOW: &str = "2026-12-01 12:00:00";
    const TWO_HOURS: Duration = Duration::from_secs(7200);

    #[test]
    fn max_age_takes_a_number_and_a_unit() {
        assert_eq!(parse_max_age("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_max_age("2h"), Ok(TWO_HOURS));
        assert_eq!(parse_max_age("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_max_age("30s"), Ok(Duration::from_secs(30)));
        for bad in [
            "",
            "2",
            "h",
            "-1h",
            "0s",
            "2 h",
            "1y",
            "367d",
            "99999999999999999999d",
        ] {
            assert!(parse_max_age(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_recent_success_is_healthy() {
        let scopes = [scope("all", Some("2026-12-01 11:00:00"))];
        let h = judge(&scopes, &["all".into()], TWO_HOURS, at(NOW));
        assert!(h.healthy, "{h:?}");
        assert_eq!(h.summary, "ok: every scope (1) succeeded within 2h");
        assert_eq!(h.scopes[0].age_secs, Some(3600));
    }

    #[test]
    fn an_old_success_and_a_missing_scope_are_named_on_one_line() {
        let scopes = [scope("business_code=1", Some("2026-12-01 07:30:00"))];
        let expected = ["business_code=1".to_owned(), "business_code=2".to_owned()];
        let h = judge(&scopes, &expected, TWO_HOURS, at(NOW));
        assert!(!h.healthy);
        assert_eq!(
            h.summary,
            "unhealthy: scope business_code=1 last succeeded 2026-12-01 07:30:00 (4h 30m ago, \
             more than 2h); scope business_code=2 never succeeded"
        );
    }

    #[test]
    fn with_nothing_configured_the_databases_scopes_are_judged_and_none_is_unhealthy() {
        let scopes = [scope("business_code=7", Some("2026-12-01 11:59:00"))];
        assert!(judge(&scopes, &[], TWO_HOURS, at(NOW)).healthy);
        let empty = judge(&[], &[], TWO_HOURS, at(NOW));
        assert!(!empty.healthy);
        assert_eq!(empty.summary, "unhealthy: no sync has run yet");
    }

    #[test]
    fn ages_show_in_the_unit_that_matters() {
        assert_eq!(show_age(45), "45s");
        assert_eq!(show_age(720), "12m");
        assert_eq!(show_age(7500), "2h 5m");
        assert_eq!(show_age(86_400 * 3 + 3600 * 4), "3d 4h");
    }
}
