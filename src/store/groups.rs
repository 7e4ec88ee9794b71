//! Writing groups: one transaction per page, a write only for new or changed records, and
//! the deletion reconciliation of a full run.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use futures_util::TryStreamExt;
use sqlx::{Row, SqliteConnection};
use tracing::instrument;

use super::runs::{insert_events, LogEvent};
use super::{sql, Store, StoreError};
use crate::api::GroupRecord;
use crate::domain::{format_timestamp, Scope};

/// Ids per `IN (...)` lookup.
const IDS_PER_LOOKUP: usize = 500;

/// Writer's exclusive lock up front: a deferred transaction that reads first could fail to
/// upgrade while an analyst's write is pending, instead of waiting for it.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// One page of a run, ready to be written in one transaction.
pub struct PageWrite<'a> {
    pub run_id: i64,
    pub scope: Scope,
    pub records: &'a [GroupRecord],
    /// Records in the response, rejected and duplicates included.
    pub received: usize,
    pub rejected: usize,
    /// `rejected_record`, `bad_timestamp`, `duplicate_id` events of this page.
    pub events: &'a [LogEvent],
    pub history: bool,
    pub now: NaiveDateTime,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub restored: u64,
}

/// What the end of a full run did about groups the API no longer lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    Marked(u64),
    /// More than the allowed fraction would have gone: nothing was marked.
    Guarded {
        missing: u64,
        live: u64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Insert,
    Update,
    Restore,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Insert => "insert",
            Change::Update => "update",
            Change::Restore => "restore",
        }
    }
}

impl Store {
    /// Writes one page. Unchanged records (same JSON text as stored, not deleted) cost one
    /// lookup and no write. The run's counters move in the same transaction, so the run
    /// row always describes exactly what was committed.
    #[instrument(skip_all, fields(run_id = page.run_id, records = page.records.len()))]
    pub async fn write_page(&self, page: &PageWrite<'_>) -> Result<PageCounts, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let stored = stored_versions(&mut tx, page.records).await?;
        let mut counts = PageCounts::default();
        let mut changes: Vec<(&GroupRecord, Change)> = Vec::new();
        for record in page.records {
            let change = match stored.get(&record.id) {
                None => Change::Insert,
                Some((_, true)) => Change::Restore,
                Some((raw, false)) if *raw != record.raw_json => Change::Update,
                Some(_) => {
                    counts.unchanged += 1;
                    continue;
                }
            };
            match change {
                Change::Insert => counts.inserted += 1,
                Change::Update => counts.updated += 1,
                Change::Restore => counts.restored += 1,
            }
            changes.push((record, change));
        }
        let now = format_timestamp(page.now);
        upsert(&mut tx, &changes, page.scope, &now).await?;
        if page.history {
            record_history(&mut tx, &changes, page.run_id, &now).await?;
        }
        insert_events(&mut tx, Some(page.run_id), page.now, page.events).await?;
        add_to_run(&mut tx, page, &counts).await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Marks as deleted the live rows of the scope that a complete full run did not see,
    /// unless that is more than `guard_fraction` of them (and the guard is not lifted).
    /// `seen` must be sorted and free of duplicates.
    #[instrument(skip_all, fields(run_id, seen = seen.len()))]
    pub async fn reconcile_deletions(
        &self,
        run_id: i64,
        scope: Scope,
        seen: &[i64],
        guard_fraction: Option<f64>,
        history: bool,
        now: NaiveDateTime,
    ) -> Result<Deletion, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let (missing, live) = missing_live_ids(&mut tx, scope, seen).await?;
        let (missing_n, live_n) = (missing.len() as u64, live);
        if let Some(fraction) = guard_fraction {
            if missing_n > 0 && (missing_n as f64) > fraction * (live_n as f64) {
                return Ok(Deletion::Guarded {
                    missing: missing_n,
                    live: live_n,
                });
            }
        }
        let now = format_timestamp(now);
        for chunk in missing.chunks(IDS_PER_LOOKUP) {
            if history {
                let text = sql::history_of_deleted(chunk.len());
                let mut q = sqlx::query(&text).bind(run_id).bind(&now);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(&mut *tx).await?;
            }
            let text = sql::mark_deleted(chunk.len());
            let mut q = sqlx::query(&text).bind(&now).bind(&now);
            for id in chunk {
                q = q.bind(id);
            }
            q.execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE sync_runs SET deleted = deleted + ? WHERE id = ?")
            .bind(missing_n as i64)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Deletion::Marked(missing_n))
    }
}

/// The stored JSON and deletion flag of the page's ids that exist, in one query per chunk.
async fn stored_versions(
    conn: &mut SqliteConnection,
    records: &[GroupRecord],
) -> Result<HashMap<i64, (String, bool)>, StoreError> {
    let mut stored = HashMap::with_capacity(records.len());
    for chunk in records.chunks(IDS_PER_LOOKUP) {
        let text = sql::stored_versions(chunk.len());
        let mut q = sqlx::query(&text);
        for r in chunk {
            q = q.bind(r.id);
        }
        let mut rows = q.fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            let id: i64 = row.try_get(0)?;
            stored.insert(id, (row.try_get(1)?, row.try_get(2)?));
        }
    }
    Ok(stored)
}

async fn upsert(
    conn: &mut SqliteConnection,
    changes: &[(&GroupRecord, Change)],
    scope: Scope,
    now: &str,
) -> Result<(), StoreError> {
    for chunk in changes.chunks(sql::ROWS_PER_STATEMENT) {
        let text = sql::upsert_groups(chunk.len());
        let mut q = sqlx::query(&text);
        for (r, _) in chunk {
            q = q
                .bind(r.id)
                .bind(r.business_code.or(scope.business_code()))
                .bind(r.group_name.as_deref())
                .bind(r.group_description.as_deref())
                .bind(r.created_at.map(format_timestamp))
                .bind(r.updated_at.map(format_timestamp))
                .bind(r.raw_json.as_str())
                .bind(now)
                .bind(now)
                .bind(None::<String>);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn record_history(
    conn: &mut SqliteConnection,
    changes: &[(&GroupRecord, Change)],
    run_id: i64,
    now: &str,
) -> Result<(), StoreError> {
    for chunk in changes.chunks(sql::ROWS_PER_STATEMENT) {
        let text = sql::insert_history(chunk.len());
        let mut q = sqlx::query(&text);
        for (r, change) in chunk {
            q = q
                .bind(r.id)
                .bind(run_id)
                .bind(change.as_str())
                .bind(now)
                .bind(r.updated_at.map(format_timestamp))
                .bind(r.raw_json.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn add_to_run(
    conn: &mut SqliteConnection,
    page: &PageWrite<'_>,
    c: &PageCounts,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sync_runs SET pages = pages + 1, received = received + ?, \
         inserted = inserted + ?, updated = updated + ?, unchanged = unchanged + ?, \
         restored = restored + ?, rejected = rejected + ? WHERE id = ?",
    )
    .bind(page.received as i64)
    .bind(c.inserted as i64)
    .bind(c.updated as i64)
    .bind(c.unchanged as i64)
    .bind(c.restored as i64)
    .bind(page.rejected as i64)
    .bind(page.run_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Live ids of the scope that `seen` lacks, and how many live rows the scope has. The ids
/// stream in order, so memory holds only what is missing.
async fn missing_live_ids(
    conn: &mut SqliteConnection,
    scope: Scope,
    seen: &[i64],
) -> Result<(Vec<i64>, u64), StoreError> {
    let query = match scope.business_code() {
        None => sqlx::query("SELECT id FROM customer_groups WHERE deleted_at IS NULL ORDER BY id"),
        Some(code) => sqlx::query(
            "SELECT id FROM customer_groups WHERE business_code = ? AND deleted_at IS NULL \
             ORDER BY id",
        )
        .bind(code),
    };
    let mut rows = query.fetch(&mut *conn);
    let (mut missing, mut live, mut cursor) = (Vec::new(), 0u64, 0usize);
    while let Some(row) = rows.try_next().await? {
        let id: i64 = row.try_get(0)?;
        live += 1;
        while cursor < seen.len() && seen[cursor] < id {
            cursor += 1;
        }
        if seen.get(cursor) != Some(&id) {
            missing.push(id);
        }
    }
    Ok((missing, live))
}
