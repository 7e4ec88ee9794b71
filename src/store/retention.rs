//! Retention: old rows of `sync_log`, `sync_runs` and (only when asked) the history are
//! deleted in small batches, each its own short transaction, so a prune never holds the
//! writer long. `customer_groups` is never touched.
//!
//! A run row is kept while anything still points at it (history rows, events), and the
//! newest run of each scope and the newest successful run of each scope and mode are always
//! kept: `status` and the full-sync schedule read them.

use chrono::NaiveDateTime;
use tracing::instrument;

use super::backend::{query, Pool};
use super::{Store, StoreError};
use crate::domain::format_timestamp;

/// Rows deleted per statement.
pub const PRUNE_BATCH: i64 = 500;

/// What to delete: rows older than these times.
#[derive(Clone, Copy, Debug)]
pub struct PruneBefore {
    /// `sync_log` events and finished `sync_runs` older than this go.
    pub log: NaiveDateTime,
    /// History rows recorded before this go; `None` keeps the history.
    pub history: Option<NaiveDateTime>,
}

/// How many rows one prune deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sync_log: u64,
    pub sync_runs: u64,
    pub history: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.sync_log + self.sync_runs + self.history
    }
}

const PRUNE_LOG: &str = "DELETE FROM sync_log WHERE id IN \
     (SELECT id FROM sync_log WHERE at < $1 ORDER BY id LIMIT $2)";

const PRUNE_HISTORY: &str = "DELETE FROM customer_group_history WHERE history_id IN \
     (SELECT history_id FROM customer_group_history WHERE recorded_at < $1 \
      ORDER BY history_id LIMIT $2)";

const PRUNE_RUNS: &str = "DELETE FROM sync_runs WHERE id IN \
     (SELECT r.id FROM sync_runs AS r \
      WHERE r.status <> 'running' AND coalesce(r.finished_at, r.started_at) < $1 \
        AND NOT EXISTS (SELECT 1 FROM customer_group_history AS h WHERE h.sync_run_id = r.id) \
        AND NOT EXISTS (SELECT 1 FROM sync_log AS l WHERE l.sync_run_id = r.id) \
        AND r.id NOT IN (SELECT max(id) FROM sync_runs GROUP BY business_code) \
        AND r.id NOT IN (SELECT max(id) FROM sync_runs WHERE status = 'success' \
                         GROUP BY business_code, mode) \
      ORDER BY r.id LIMIT $2)";

impl Store {
    /// Deletes what is older than `before`, batch by batch: events, then history (if
    /// asked), then the runs nothing points at any more.
    #[instrument(skip_all)]
    pub async fn prune(&self, before: PruneBefore) -> Result<Pruned, StoreError> {
        let writer = self.writer();
        let log = format_timestamp(before.log);
        let mut pruned = Pruned {
            sync_log: in_batches(&writer, PRUNE_LOG, &log).await?,
            ..Pruned::default()
        };
        if let Some(history) = before.history {
            let history = format_timestamp(history);
            pruned.history = in_batches(&writer, PRUNE_HISTORY, &history).await?;
        }
        pruned.sync_runs = in_batches(&writer, PRUNE_RUNS, &log).await?;
        Ok(pruned)
    }
}

/// Runs `statement` until a batch deletes less than a full batch; other work on the
/// writer gets its turn between batches.
async fn in_batches(writer: &Pool, statement: &str, before: &str) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let mut conn = writer.acquire().await?;
        let done = query(writer.backend(), statement)
            .bind(before)
            .bind(PRUNE_BATCH)
            .execute(&mut conn)
            .await?;
        drop(conn);
        total += done;
        if done < PRUNE_BATCH as u64 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}
