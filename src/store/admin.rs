//! The operator's tools over the run log: one scope's recent runs, the changes one run
//! made (from `customer_group_history`), and setting a scope's watermark by hand, which
//! is logged in `sync_log` in the same transaction so the change is never silent.

use serde::Serialize;
use sqlx::FromRow;

use super::backend::{query, Target};
use super::runs::{insert_events, LogEvent};
use super::status::RUN_COLUMNS;
use super::{RecentRun, Store, StoreError};
use crate::domain::{now_utc, Scope};

/// One row of `customer_group_history` for `changes --run N`.
#[derive(Clone, Debug, Serialize, FromRow)]
pub struct Change {
    pub change: String,
    pub group_id: i64,
    /// The group's name now (the history keeps the JSON of each version).
    pub group_name: Option<String>,
    /// The record's `updated_at` at that change.
    pub updated_at: Option<String>,
    pub recorded_at: String,
}

impl Store {
    /// The newest `limit` runs of a scope, newest first.
    pub async fn runs_of_scope(
        &self,
        scope: &Scope,
        limit: i64,
    ) -> Result<Vec<RecentRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE business_code IS NOT DISTINCT FROM $1 \
             ORDER BY id DESC LIMIT $2"
        );
        let mut conn = self.writer().acquire().await?;
        let runs = query(conn.backend(), &sql)
            .bind(scope.business_code())
            .bind(limit)
            .all_as(&mut conn)
            .await?;
        Ok(runs)
    }

    /// The run with this id, if there is one.
    pub async fn run(&self, id: i64) -> Result<Option<RecentRun>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE id = $1");
        let mut conn = self.writer().acquire().await?;
        let run = query(conn.backend(), &sql)
            .bind(id)
            .fetch_optional(&mut conn)
            .await?;
        Ok(run.map(|row| row.to()).transpose()?)
    }

    /// What run `id` changed, in the order it recorded the changes.
    pub async fn changes_of_run(&self, id: i64) -> Result<Vec<Change>, StoreError> {
        let mut conn = self.writer().acquire().await?;
        let changes = query(
            conn.backend(),
            "SELECT h.change, h.group_id, g.group_name, h.updated_at, h.recorded_at \
             FROM customer_group_history h LEFT JOIN customer_groups g ON g.id = h.group_id \
             WHERE h.sync_run_id = $1 ORDER BY h.history_id",
        )
        .bind(id)
        .all_as(&mut conn)
        .await?;
        Ok(changes)
    }

    /// Sets (or with `None` clears) a scope's watermark and logs the event `event` makes of
    /// the watermark it had, in one transaction. Returns that watermark, or `Ok(None)` when
    /// the scope has no state yet (nothing is changed then).
    pub async fn set_watermark(
        &self,
        scope: &Scope,
        watermark: Option<&str>,
        event: impl FnOnce(Option<&str>) -> LogEvent,
    ) -> Result<Option<Option<String>>, StoreError> {
        let mut tx = self.writer().begin_write().await?;
        let backend = tx.backend();
        let before: Option<Option<String>> =
            query(backend, "SELECT watermark FROM sync_state WHERE scope = $1")
                .bind(scope.key())
                .fetch_optional(&mut tx)
                .await?
                .map(|row| row.get(0))
                .transpose()?;
        if before.is_none() {
            return Ok(None);
        }
        query(
            backend,
            "UPDATE sync_state SET watermark = $1 WHERE scope = $2",
        )
        .bind(watermark)
        .bind(scope.key())
        .execute(&mut tx)
        .await?;
        let logged = event(before.as_ref().and_then(Option::as_deref));
        insert_events(&mut tx, None, now_utc(), &[logged]).await?;
        tx.commit().await?;
        Ok(before)
    }
}
