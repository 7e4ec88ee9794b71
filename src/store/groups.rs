//! Writing groups: one transaction per page, a write only for new or changed records.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use tracing::{debug, instrument};

use super::backend::{query, Backend, Target, Tx};
use super::copy::CopyRows;
use super::runs::{insert_events, LogEvent};
use super::{sql, Store, StoreError};
use crate::domain::{format_timestamp, GroupRecord, Scope};

/// One page of a run, ready to be written in one transaction.
pub struct PageWrite<'a> {
    pub run_id: i64,
    pub scope: Scope,
    pub records: &'a [GroupRecord],
    /// Records in the response, rejected and duplicates included.
    pub received: usize,
    pub rejected: usize,
    /// `rejected_record` and `duplicate_id` events of this page.
    pub events: &'a [LogEvent],
    /// Events about one record (`bad_timestamp`), keyed by its id: written only when the
    /// record is, so an unchanged record does not log the same warning on every run.
    pub record_events: &'a [(i64, LogEvent)],
    /// Ids of this page that an earlier page of the same listing already carried: such a
    /// record overwrites the earlier one only if its `updated_at` is not older.
    pub repeats: &'a HashSet<i64>,
    pub history: bool,
    pub now: NaiveDateTime,
    /// The first listing of a scope that held no row when the run began: only ids an earlier
    /// page carried can be stored, so the others are inserted without being looked up.
    pub fresh: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub restored: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Insert,
    Update,
    Restore,
}

text_column!(Change);

impl Change {
    fn as_str(&self) -> &'static str {
        match self {
            Change::Insert => "insert",
            Change::Update => "update",
            Change::Restore => "restore",
        }
    }
}

/// A record to write, with its timestamps as the database stores them (formatted once for
/// both the row and its history).
struct Write<'a> {
    record: &'a GroupRecord,
    change: Change,
    created_at: Option<String>,
    updated_at: Option<String>,
}

/// Which records of a page are looked up before writing.
#[derive(Clone, Copy)]
enum Lookup {
    Every,
    /// Only the ids an earlier page of the listing carried (a fresh scope's first listing).
    Repeats,
}

/// What the database holds for an id of the page.
struct Stored {
    deleted: bool,
    same_json: bool,
    updated_at: Option<String>,
}

impl Store {
    /// Writes one page. Unchanged records (same JSON text as stored, not deleted) cost one
    /// comparison in SQLite and no write. The run's counters move in the same transaction, so
    /// the run row always describes exactly what was committed.
    #[instrument(skip_all, fields(run_id = page.run_id, records = page.records.len()))]
    pub async fn write_page(&self, page: &PageWrite<'_>) -> Result<PageCounts, StoreError> {
        if page.fresh {
            match self.write_page_looking_up(page, Lookup::Repeats).await {
                Err(StoreError::Query(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                    // Another scope holds one of the ids (a group moved between business
                    // codes): nothing was committed, and the page is written the usual way.
                    debug!("an id of a first load is stored already; looking every record up");
                }
                written => return written,
            }
        }
        self.write_page_looking_up(page, Lookup::Every).await
    }

    async fn write_page_looking_up(
        &self,
        page: &PageWrite<'_>,
        lookup: Lookup,
    ) -> Result<PageCounts, StoreError> {
        let mut tx = self.writer().begin_write().await?;
        let looked_up: Vec<&GroupRecord> = match lookup {
            Lookup::Every => page.records.iter().collect(),
            Lookup::Repeats => page
                .records
                .iter()
                .filter(|r| page.repeats.contains(&r.id))
                .collect(),
        };
        let stored = diff_page(&mut tx, &looked_up).await?;
        let mut counts = PageCounts::default();
        let mut writes: Vec<Write<'_>> = Vec::new();
        for record in page.records {
            let updated_at = record.updated_at.map(format_timestamp);
            let known = stored.get(&record.id);
            let change = match known {
                None => Change::Insert,
                Some(s) if page.repeats.contains(&record.id) => {
                    // Written earlier in this listing: the latest `updated_at` wins, and a
                    // repeat is counted once, where it first appeared.
                    if s.same_json || s.updated_at > updated_at {
                        continue;
                    }
                    Change::Update
                }
                Some(Stored { deleted: true, .. }) => Change::Restore,
                Some(Stored {
                    same_json: false, ..
                }) => Change::Update,
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
            writes.push(Write {
                record,
                change,
                created_at: record.created_at.map(format_timestamp),
                updated_at,
            });
        }
        let now = format_timestamp(page.now);
        let (inserts, overwrites): (Vec<&Write>, Vec<&Write>) =
            writes.iter().partition(|w| w.change == Change::Insert);
        match &mut tx {
            Tx::Postgres(pg) => copy_groups(pg, &inserts, page.scope, &now).await?,
            Tx::Sqlite(_) => {
                write_groups(&mut tx, &inserts, sql::insert_groups, page.scope, &now).await?
            }
        }
        write_groups(&mut tx, &overwrites, sql::update_groups, page.scope, &now).await?;
        if page.history {
            match &mut tx {
                Tx::Postgres(pg) => copy_history(pg, &writes, page.run_id, &now).await?,
                Tx::Sqlite(_) => record_history(&mut tx, &writes, page.run_id, &now).await?,
            }
        }
        insert_events(&mut tx, Some(page.run_id), page.now, page.events).await?;
        let written: HashSet<i64> = writes.iter().map(|w| w.record.id).collect();
        let record_events: Vec<LogEvent> = page
            .record_events
            .iter()
            .filter(|(id, _)| written.contains(id))
            .map(|(_, e)| e.clone())
            .collect();
        insert_events(&mut tx, Some(page.run_id), page.now, &record_events).await?;
        add_to_run(&mut tx, page, &counts).await?;
        tx.commit().await?;
        Ok(counts)
    }
}

/// What the database holds for the page's ids that are stored: one statement per 500
/// records compares each record's JSON with the stored text inside SQLite.
async fn diff_page(
    conn: &mut Tx<'_>,
    records: &[&GroupRecord],
) -> Result<HashMap<i64, Stored>, StoreError> {
    let backend = conn.backend();
    let mut stored = HashMap::with_capacity(records.len());
    let mut rest = records;
    for size in sql::statement_sizes(records.len(), sql::RECORDS_PER_DIFF) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let text = sql::diff_page(backend, chunk.len());
        let mut q = query(backend, &text);
        for r in chunk {
            q = q.bind(r.id).bind(r.raw_json.as_str());
        }
        q.for_each(conn, |row| {
            let stored_row = Stored {
                deleted: row.get(1)?,
                same_json: row.get(2)?,
                updated_at: row.get(3)?,
            };
            stored.insert(row.get(0)?, stored_row);
            Ok(())
        })
        .await?;
    }
    Ok(stored)
}

/// Writes `rows` to `customer_groups` with the statement `text` makes for a row count.
async fn write_groups(
    conn: &mut Tx<'_>,
    rows: &[&Write<'_>],
    text: fn(Backend, usize) -> String,
    scope: Scope,
    now: &str,
) -> Result<(), StoreError> {
    let backend = conn.backend();
    let mut rest = rows;
    for size in sql::statement_sizes(rows.len(), sql::ROWS_PER_STATEMENT) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let text = text(backend, chunk.len());
        let mut q = query(backend, &text);
        for w in chunk {
            let r = w.record;
            q = q
                .bind(r.id)
                .bind(r.business_code.or(scope.business_code()))
                .bind(r.group_name.as_deref())
                .bind(r.group_description.as_deref())
                .bind(w.created_at.as_deref())
                .bind(w.updated_at.as_deref())
                .bind(r.raw_json.as_str())
                .bind(now)
                .bind(now)
                .bind(None::<&str>);
        }
        q.execute(conn).await?;
    }
    Ok(())
}

/// PostgreSQL: the new groups in one `COPY`, laid out as for [`write_groups`].
async fn copy_groups(
    conn: &mut sqlx::PgConnection,
    rows: &[&Write<'_>],
    scope: Scope,
    now: &str,
) -> Result<(), StoreError> {
    let mut copy = CopyRows::new();
    for w in rows {
        let r = w.record;
        copy.int(Some(r.id))
            .int(r.business_code.or(scope.business_code()))
            .text(r.group_name.as_deref())
            .text(r.group_description.as_deref())
            .text(w.created_at.as_deref())
            .text(w.updated_at.as_deref())
            .text(Some(r.raw_json.as_str()))
            .text(Some(now))
            .text(Some(now))
            .text(None);
        copy.end_row();
    }
    copy.send(conn, &sql::copy_groups()).await?;
    Ok(())
}

/// PostgreSQL: the page's history rows in one `COPY`.
async fn copy_history(
    conn: &mut sqlx::PgConnection,
    writes: &[Write<'_>],
    run_id: i64,
    now: &str,
) -> Result<(), StoreError> {
    let mut copy = CopyRows::new();
    for w in writes {
        copy.int(Some(w.record.id))
            .int(Some(run_id))
            .text(Some(w.change.as_str()))
            .text(Some(now))
            .text(w.updated_at.as_deref())
            .text(Some(w.record.raw_json.as_str()));
        copy.end_row();
    }
    copy.send(conn, &sql::copy_history()).await?;
    Ok(())
}

async fn record_history(
    conn: &mut Tx<'_>,
    writes: &[Write<'_>],
    run_id: i64,
    now: &str,
) -> Result<(), StoreError> {
    let backend = conn.backend();
    let mut rest = writes;
    for size in sql::statement_sizes(writes.len(), sql::ROWS_PER_STATEMENT) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let text = sql::insert_history(backend, chunk.len());
        let mut q = query(backend, &text);
        for w in chunk {
            q = q
                .bind(w.record.id)
                .bind(run_id)
                .bind(w.change)
                .bind(now)
                .bind(w.updated_at.as_deref())
                .bind(w.record.raw_json.as_str());
        }
        q.execute(conn).await?;
    }
    Ok(())
}

async fn add_to_run(
    conn: &mut Tx<'_>,
    page: &PageWrite<'_>,
    c: &PageCounts,
) -> Result<(), StoreError> {
    let backend = conn.backend();
    query(
        backend,
        "UPDATE sync_runs SET pages = pages + 1, received = received + $1, \
         inserted = inserted + $2, updated = updated + $3, unchanged = unchanged + $4, \
         restored = restored + $5, rejected = rejected + $6 WHERE id = $7",
    )
    .bind(page.received as i64)
    .bind(c.inserted as i64)
    .bind(c.updated as i64)
    .bind(c.unchanged as i64)
    .bind(c.restored as i64)
    .bind(page.rejected as i64)
    .bind(page.run_id)
    .execute(conn)
    .await?;
    Ok(())
}
