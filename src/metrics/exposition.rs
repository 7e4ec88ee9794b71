//! The text `/metrics` serves (OpenMetrics, which Prometheus reads), built fresh from the
//! database at every scrape: counters are the database's totals, so they never reset when
//! the daemon restarts and include runs of `--once` beside it.

use std::sync::atomic::AtomicU64;

use chrono::NaiveDateTime;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::domain::{Scope, TIMESTAMP_FORMAT};
use crate::store::{MetricTotals, ScopeStatus, ScopeTotals};

/// What one scrape shows: the scopes' state, the totals and the health verdict.
pub(super) struct Snapshot<'a> {
    pub scopes: &'a [Scope],
    pub states: &'a [ScopeStatus],
    pub totals: &'a MetricTotals,
    pub healthy: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabel {
    scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    scope: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    scope: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    scope: String,
    state: &'static str,
}

type Seconds = Gauge<f64, AtomicU64>;
type SecondsTotal = Counter<f64, AtomicU64>;

/// The metric families, registered once per scrape.
#[derive(Default)]
struct Families {
    last_success: Family<ScopeLabel, Seconds>,
    watermark: Family<ScopeLabel, Seconds>,
    runs: Family<StatusLabels, Counter>,
    records: Family<OutcomeLabels, Counter>,
    auth_failures: Family<ScopeLabel, Counter>,
    run_time: Family<ScopeLabel, SecondsTotal>,
    finished_runs: Family<ScopeLabel, Counter>,
    last_run_time: Family<ScopeLabel, Seconds>,
    groups: Family<StateLabels, Gauge>,
    healthy: Gauge,
}

impl Families {
    fn register(&self, registry: &mut Registry) {
        let secs = Unit::Seconds;
        registry.register_with_unit(
            "last_success_timestamp",
            "When the scope's last successful run finished (Unix time)",
            secs.clone(),
            self.last_success.clone(),
        );
        registry.register_with_unit(
            "watermark_timestamp",
            "The scope's watermark: the newest updated_at a successful run committed (Unix time)",
            secs.clone(),
            self.watermark.clone(),
        );
        registry.register("runs", "Runs by how they ended", self.runs.clone());
        registry.register(
            "records",
            "Records by outcome over all runs: received, then what each became",
            self.records.clone(),
        );
        registry.register(
            "auth_failures",
            "Requests the API rejected for the key (401/403)",
            self.auth_failures.clone(),
        );
        registry.register_with_unit(
            "run_duration",
            "Wall time of all finished runs",
            secs.clone(),
            self.run_time.clone(),
        );
        registry.register(
            "finished_runs",
            "Runs that ended, whatever their status (divide run_duration_seconds by it)",
            self.finished_runs.clone(),
        );
        registry.register_with_unit(
            "last_run_duration",
            "Wall time of the scope's last finished run",
            secs,
            self.last_run_time.clone(),
        );
        registry.register(
            "groups",
            "Rows of customer_groups in the scope, live or marked deleted",
            self.groups.clone(),
        );
        registry.register(
            "healthy",
            "1 while /healthz answers 200, else 0",
            self.healthy.clone(),
        );
    }
}

/// The exposition text of `snapshot`.
pub(super) fn render(snapshot: &Snapshot<'_>) -> Result<String, std::fmt::Error> {
    let families = Families::default();
    let mut registry = Registry::with_prefix("xtrakit_sync");
    families.register(&mut registry);
    for scope in snapshot.scopes {
        fill_scope(&families, snapshot, scope);
    }
    families.healthy.set(i64::from(snapshot.healthy));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

fn fill_scope(f: &Families, snapshot: &Snapshot<'_>, scope: &Scope) {
    let key = scope.key();
    let label = ScopeLabel { scope: key.clone() };
    let code = scope.business_code();
    if let Some(state) = snapshot.states.iter().find(|s| s.business_code == code) {
        if let Some(t) = unix_seconds(state.last_success_at.as_deref()) {
            f.last_success.get_or_create(&label).set(t);
        }
        if let Some(t) = unix_seconds(state.watermark.as_deref()) {
            f.watermark.get_or_create(&label).set(t);
        }
    }
    for run in snapshot
        .totals
        .runs
        .iter()
        .filter(|r| r.business_code == code)
    {
        let labels = StatusLabels {
            scope: key.clone(),
            status: run.status.clone(),
        };
        f.runs.get_or_create(&labels).inc_by(count(run.runs));
    }
    let totals = snapshot
        .totals
        .scopes
        .iter()
        .find(|t| t.business_code == code)
        .cloned()
        .unwrap_or_default();
    fill_totals(f, &key, &totals);
    fill_rows(f, snapshot, scope);
}

fn fill_totals(f: &Families, key: &str, t: &ScopeTotals) {
    let label = ScopeLabel {
        scope: key.to_owned(),
    };
    let outcomes = [
        ("received", t.received),
        ("inserted", t.inserted),
        ("updated", t.updated),
        ("unchanged", t.unchanged),
        ("rejected", t.rejected),
        ("deleted", t.deleted),
        ("restored", t.restored),
    ];
    for (outcome, n) in outcomes {
        let labels = OutcomeLabels {
            scope: key.to_owned(),
            outcome,
        };
        f.records.get_or_create(&labels).inc_by(count(n));
    }
    f.auth_failures
        .get_or_create(&label)
        .inc_by(count(t.auth_failures));
    f.finished_runs
        .get_or_create(&label)
        .inc_by(count(t.finished_runs));
    f.run_time
        .get_or_create(&label)
        .inc_by(millis_as_secs(t.duration_ms));
    if let Some(ms) = t.last_duration_ms {
        f.last_run_time
            .get_or_create(&label)
            .set(millis_as_secs(ms));
    }
}

/// Live and deleted rows: every row for the unfiltered scope, else the rows of its code.
fn fill_rows(f: &Families, snapshot: &Snapshot<'_>, scope: &Scope) {
    let rows =
        snapshot.totals.rows.iter().filter(|r| {
            scope.business_code().is_none() || r.business_code == scope.business_code()
        });
    let (live, deleted) = rows.fold((0, 0), |(l, d), r| (l + r.live, d + r.deleted));
    for (state, n) in [("live", live), ("deleted", deleted)] {
        let labels = StateLabels {
            scope: scope.key(),
            state,
        };
        f.groups.get_or_create(&labels).set(n);
    }
}

/// A count from SQLite, which is never negative.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn millis_as_secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// A stored UTC time as Unix seconds; `None` when absent or unreadable.
fn unix_seconds(stored: Option<&str>) -> Option<f64> {
    let t = NaiveDateTime::parse_from_str(stored?, TIMESTAMP_FORMAT).ok()?;
    Some(t.and_utc().timestamp() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RowsByCode, RunsByStatus};

    fn totals() -> MetricTotals {
        MetricTotals {
            runs: vec![RunsByStatus {
                business_code: Some(7),
                status: "success".to_owned(),
                runs: 3,
            }],
            scopes: Vec::new(),
            rows: vec![
                RowsByCode {
                    business_code: Some(7),
                    live: 5,
                    deleted: 1,
                },
                RowsByCode {
                    business_code: Some(8),
                    live: 9,
                    deleted: 0,
                },
            ],
        }
    }

    #[test]
    fn a_scope_with_a_code_counts_only_its_own_rows_and_runs() {
        let totals = totals();
        let snapshot = Snapshot {
            scopes: &[Scope::business(7)],
            states: &[],
            totals: &totals,
            healthy: false,
        };
        let text = render(&snapshot).unwrap();
        assert!(text.contains("xtrakit_sync_groups{scope=\"business_code=7\",state=\"live\"} 5"));
        assert!(
            text.contains(
                "xtrakit_sync_runs_total{scope=\"business_code=7\",status=\"success\"} 3"
            ),
            "{text}"
        );
        assert!(text.contains("xtrakit_sync_healthy 0"), "{text}");
        assert!(!text.contains("business_code=8"), "{text}");
    }

    #[test]
    fn the_unfiltered_scope_counts_every_row() {
        let totals = totals();
        let snapshot = Snapshot {
            scopes: &[Scope::ALL],
            states: &[],
            totals: &totals,
            healthy: true,
        };
        let text = render(&snapshot).unwrap();
        assert!(
            text.contains("xtrakit_sync_groups{scope=\"all\",state=\"live\"} 14"),
            "{text}"
        );
    }

    #[test]
    fn stored_times_become_unix_seconds() {
        assert_eq!(unix_seconds(Some("1970-01-02 00:00:00")), Some(86_400.0));
        assert_eq!(unix_seconds(Some("yesterday")), None);
    }
}
