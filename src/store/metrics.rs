//! Totals for `/metrics`, read from the run log and the tables, so they count every run
//! the database saw (the daemon's, `--once`'s, before a restart) and survive restarts.

use sqlx::FromRow;
use tracing::instrument;

use super::backend::{query, Target};
use super::{Store, StoreError};

/// How many runs of one scope ended with one status.
#[derive(Clone, Debug, FromRow)]
pub struct RunsByStatus {
    pub business_code: Option<i64>,
    pub status: String,
    pub runs: i64,
}

/// One scope's record and time totals over all its runs.
#[derive(Clone, Debug, Default, FromRow)]
pub struct ScopeTotals {
    pub business_code: Option<i64>,
    pub received: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub deleted: i64,
    pub restored: i64,
    /// Runs that ended (those with a duration).
    pub finished_runs: i64,
    pub duration_ms: i64,
    /// `auth_failure` events logged by the scope's runs.
    pub auth_failures: i64,
    /// The duration of the scope's last finished run.
    pub last_duration_ms: Option<i64>,
}

/// Rows of `customer_groups` with one business code (`NULL` included).
#[derive(Clone, Debug, FromRow)]
pub struct RowsByCode {
    pub business_code: Option<i64>,
    pub live: i64,
    pub deleted: i64,
}

/// Everything `/metrics` shows besides [`Store::status`].
#[derive(Clone, Debug)]
pub struct MetricTotals {
    pub runs: Vec<RunsByStatus>,
    pub scopes: Vec<ScopeTotals>,
    pub rows: Vec<RowsByCode>,
}

const SCOPE_TOTALS: &str = "\
    SELECT r.business_code, \
        CAST(sum(received) AS BIGINT) AS received, CAST(sum(inserted) AS BIGINT) AS inserted, \
        CAST(sum(updated) AS BIGINT) AS updated, CAST(sum(unchanged) AS BIGINT) AS unchanged, \
        CAST(sum(rejected) AS BIGINT) AS rejected, CAST(sum(deleted) AS BIGINT) AS deleted, \
        CAST(sum(restored) AS BIGINT) AS restored, count(duration_ms) AS finished_runs, \
        CAST(coalesce(sum(duration_ms), 0) AS BIGINT) AS duration_ms, \
        (SELECT count(*) FROM sync_log AS l JOIN sync_runs AS a ON a.id = l.sync_run_id \
            WHERE l.event = 'auth_failure' \
            AND a.business_code IS NOT DISTINCT FROM r.business_code) AS auth_failures, \
        (SELECT duration_ms FROM sync_runs AS d \
            WHERE d.business_code IS NOT DISTINCT FROM r.business_code \
            AND d.duration_ms IS NOT NULL ORDER BY d.id DESC LIMIT 1) AS last_duration_ms \
    FROM sync_runs AS r GROUP BY r.business_code";

impl Store {
    /// Run, record and row totals per scope and business code.
    #[instrument(skip_all)]
    pub async fn metric_totals(&self) -> Result<MetricTotals, StoreError> {
        let mut conn = self.writer().acquire().await?;
        let backend = conn.backend();
        let runs = query(
            backend,
            "SELECT business_code, status, count(*) AS runs FROM sync_runs \
             GROUP BY business_code, status",
        )
        .all_as(&mut conn)
        .await?;
        let scopes = query(backend, SCOPE_TOTALS).all_as(&mut conn).await?;
        let rows = query(
            backend,
            "SELECT business_code, count(*) FILTER (WHERE deleted_at IS NULL) AS live, \
             count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted \
             FROM customer_groups GROUP BY business_code",
        )
        .all_as(&mut conn)
        .await?;
        Ok(MetricTotals { runs, scopes, rows })
    }
}
