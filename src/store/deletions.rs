//! What a full run needs from the database to reconcile deletions: how many rows were live
//! before it, which live rows its listing did not contain, and marking the confirmed ones.
//! Deciding which ones to mark is the sync's job (`sync::reconcile`), not the store's.

use chrono::NaiveDateTime;
use roaring::RoaringTreemap;
use tracing::instrument;

use super::backend::{query, Target};
use super::{sql, Store, StoreError};
use crate::domain::{format_timestamp, Scope};

/// Ids per `IN (...)` list when marking.
const IDS_PER_STATEMENT: usize = 500;

impl Store {
    /// Live rows of the scope: taken before a full run writes anything, so the deletion guard
    /// is measured against what the database held, not against what the run itself added.
    #[instrument(skip_all, fields(scope = %scope))]
    pub async fn count_live(&self, scope: Scope) -> Result<u64, StoreError> {
        let mut conn = self.writer().acquire().await?;
        let backend = conn.backend();
        let count: i64 = match scope.business_code() {
            None => query(
                backend,
                "SELECT count(*) FROM customer_groups WHERE deleted_at IS NULL",
            ),
            Some(code) => query(
                backend,
                "SELECT count(*) FROM customer_groups \
                 WHERE business_code = $1 AND deleted_at IS NULL",
            )
            .bind(code),
        }
        .scalar(&mut conn)
        .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Whether the scope has any row, live or deleted: a scope with none gets a first load.
    #[instrument(skip_all, fields(scope = %scope))]
    pub async fn holds_any(&self, scope: Scope) -> Result<bool, StoreError> {
        let mut conn = self.writer().acquire().await?;
        let backend = conn.backend();
        let q = match scope.business_code() {
            None => query(backend, "SELECT EXISTS (SELECT 1 FROM customer_groups)"),
            Some(code) => query(
                backend,
                "SELECT EXISTS (SELECT 1 FROM customer_groups WHERE business_code = $1)",
            )
            .bind(code),
        };
        Ok(q.scalar(&mut conn).await?)
    }

    /// Live ids of the scope that `seen` lacks. The ids stream through; only the missing
    /// ones are kept.
    #[instrument(skip_all, fields(scope = %scope, seen = seen.len()))]
    pub async fn live_ids_missing(
        &self,
        scope: Scope,
        seen: &RoaringTreemap,
    ) -> Result<RoaringTreemap, StoreError> {
        let mut conn = self.writer().acquire().await?;
        let backend = conn.backend();
        let q = match scope.business_code() {
            None => query(
                backend,
                "SELECT id FROM customer_groups WHERE deleted_at IS NULL",
            ),
            Some(code) => query(
                backend,
                "SELECT id FROM customer_groups WHERE business_code = $1 AND deleted_at IS NULL",
            )
            .bind(code),
        };
        let mut missing = RoaringTreemap::new();
        q.for_each(&mut conn, |row| {
            let id: i64 = row.get(0)?;
            // Stored ids are positive (the parser rejects any other); a negative one typed in
            // by hand cannot have been seen, and is left alone rather than mis-marked.
            if let Ok(id) = u64::try_from(id) {
                if !seen.contains(id) {
                    missing.insert(id);
                }
            }
            Ok(())
        })
        .await?;
        Ok(missing)
    }

    /// Marks `ids` deleted (with a `delete` history row each, when `history` is on) in one
    /// transaction, and counts them on the run. Rows no longer live are left as they are.
    #[instrument(skip_all, fields(run_id, ids = ids.len()))]
    pub async fn mark_deleted(
        &self,
        run_id: i64,
        ids: &RoaringTreemap,
        history: bool,
        now: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        let ids: Vec<i64> = ids.iter().filter_map(|id| i64::try_from(id).ok()).collect();
        let now = format_timestamp(now);
        let mut tx = self.writer().begin_write().await?;
        let backend = tx.backend();
        let mut marked = 0;
        let mut rest = ids.as_slice();
        for size in sql::statement_sizes(ids.len(), IDS_PER_STATEMENT) {
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            if history {
                let text = sql::history_of_deleted(backend, chunk.len());
                let mut q = query(backend, &text).bind(run_id).bind(now.as_str());
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(&mut tx).await?;
            }
            let text = sql::mark_deleted(backend, chunk.len());
            let mut q = query(backend, &text).bind(now.as_str()).bind(now.as_str());
            for id in chunk {
                q = q.bind(*id);
            }
            marked += q.execute(&mut tx).await?;
        }
        query(
            backend,
            "UPDATE sync_runs SET deleted = deleted + $1 WHERE id = $2",
        )
        .bind(i64::try_from(marked).unwrap_or(i64::MAX))
        .bind(run_id)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(marked)
    }
}
