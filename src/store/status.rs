//! What `status` reports: read-only queries over the run log and the tables.

use serde::Serialize;
use sqlx::FromRow;
use tracing::instrument;

use super::backend::{query, Target};
use super::{Store, StoreError};
use crate::domain::Scope;

/// How many recent runs `status` lists.
const RECENT_RUNS: i64 = 10;

#[derive(Clone, Debug, Serialize, FromRow)]
pub struct RecentRun {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub trigger: String,
    pub mode: String,
    pub business_code: Option<i64>,
    pub status: String,
    pub watermark_before: Option<String>,
    pub watermark_after: Option<String>,
    pub pages: i64,
    pub received: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub deleted: i64,
    pub restored: i64,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScopeStatus {
    pub scope: String,
    pub business_code: Option<i64>,
    pub watermark: Option<String>,
    pub last_success_at: Option<String>,
    pub last_full_sync_at: Option<String>,
    pub last_run: Option<RecentRun>,
}

#[derive(Clone, Debug, Serialize, FromRow)]
pub struct TableCounts {
    pub live_groups: i64,
    pub deleted_groups: i64,
    pub history_rows: i64,
    pub sync_runs: i64,
    pub log_events: i64,
    pub auth_failures: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    pub database: String,
    pub scopes: Vec<ScopeStatus>,
    pub recent_runs: Vec<RecentRun>,
    pub counts: TableCounts,
}

#[derive(FromRow)]
struct StateRow {
    scope: String,
    business_code: Option<i64>,
    watermark: Option<String>,
    last_success_at: Option<String>,
    last_full_sync_at: Option<String>,
}

pub(super) const RUN_COLUMNS: &str =
    "id, started_at, finished_at, trigger, mode, business_code, status, \
    watermark_before, watermark_after, pages, received, inserted, updated, unchanged, rejected, \
    deleted, restored, http_status, error, duration_ms";

impl Store {
    /// Every scope that has a state or a run, whether or not it is configured now.
    #[instrument(skip_all)]
    pub async fn status(&self) -> Result<StatusReport, StoreError> {
        let mut conn = self.writer().acquire().await?;
        let backend = conn.backend();
        let states: Vec<StateRow> = query(
            backend,
            "SELECT scope, business_code, watermark, last_success_at, last_full_sync_at \
             FROM sync_state ORDER BY business_code IS NOT NULL, business_code",
        )
        .all_as(&mut conn)
        .await?;
        let latest_sql = format!(
            "SELECT {RUN_COLUMNS} FROM latest_sync_runs \
             ORDER BY business_code IS NOT NULL, business_code"
        );
        let latest = query(backend, &latest_sql).all_as(&mut conn).await?;
        let recent_sql = format!("SELECT {RUN_COLUMNS} FROM sync_runs ORDER BY id DESC LIMIT $1");
        let recent_runs = query(backend, &recent_sql)
            .bind(RECENT_RUNS)
            .all_as(&mut conn)
            .await?;
        let counts: TableCounts = query(
            backend,
            "SELECT \
             (SELECT count(*) FROM customer_groups WHERE deleted_at IS NULL) AS live_groups, \
             (SELECT count(*) FROM customer_groups WHERE deleted_at IS NOT NULL) AS deleted_groups, \
             (SELECT count(*) FROM customer_group_history) AS history_rows, \
             (SELECT count(*) FROM sync_runs) AS sync_runs, \
             (SELECT count(*) FROM sync_log) AS log_events, \
             (SELECT count(*) FROM sync_log WHERE event = 'auth_failure') AS auth_failures",
        )
        .fetch_one(&mut conn)
        .await?
        .to()?;
        Ok(StatusReport {
            database: self.inner.location.to_string(),
            scopes: merge_scopes(states, latest),
            recent_runs,
            counts,
        })
    }
}

fn merge_scopes(states: Vec<StateRow>, latest: Vec<RecentRun>) -> Vec<ScopeStatus> {
    let mut scopes: Vec<ScopeStatus> = states
        .into_iter()
        .map(|s| ScopeStatus {
            scope: s.scope,
            business_code: s.business_code,
            watermark: s.watermark,
            last_success_at: s.last_success_at,
            last_full_sync_at: s.last_full_sync_at,
            last_run: None,
        })
        .collect();
    for run in latest {
        match scopes
            .iter_mut()
            .find(|s| s.business_code == run.business_code)
        {
            Some(scope) => scope.last_run = Some(run),
            None => scopes.push(ScopeStatus {
                scope: scope_key(run.business_code),
                business_code: run.business_code,
                watermark: None,
                last_success_at: None,
                last_full_sync_at: None,
                last_run: Some(run),
            }),
        }
    }
    scopes
}

fn scope_key(code: Option<i64>) -> String {
    code.map_or(Scope::ALL, Scope::business).key()
}
