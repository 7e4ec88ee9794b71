//! Writing groups: one transaction per page, a write only for new or changed records.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{debug, instrument, Instrument as _};

use super::backend::{query, Backend, Target, Tx};
use super::page_rows;
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
pub(super) enum Change {
    Insert,
    Update,
    Restore,
}

text_column!(Change);

impl Change {
    pub(super) fn as_str(&self) -> &'static str {
        match self {
            Change::Insert => "insert",
            Change::Update => "update",
            Change::Restore => "restore",
        }
    }
}

/// A record to write, with its timestamps as the database stores them (formatted once for
/// both the row and its history).
pub(super) struct Write<'a> {
    pub(super) record: &'a GroupRecord,
    pub(super) change: Change,
    pub(super) created_at: Option<String>,
    pub(super) updated_at: Option<String>,
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
        let looked_up: Vec<&GroupRecord> = match lookup {
            Lookup::Every => page.records.iter().collect(),
            Lookup::Repeats => page
                .records
                .iter()
                .filter(|r| page.repeats.contains(&r.id))
                .collect(),
        };
        // Not `self.writer()` yet: that would return the connection the last page kept.
        if self.pools().writer_pool.backend() == Backend::Sqlite
            && looked_up.is_empty()
            && quiet(page)
        {
            return self.write_fresh_page(page).await;
        }
        self.pools().parked.settle(page.run_id).await?;
        let writer = self.writer();
        let backend = writer.backend();
        let (opening, stored) = if looked_up.is_empty() {
            // Nothing to look up (a first load's page): what the page writes is known before
            // its transaction, so it is worked out, and its first statement built, while
            // another task takes the connection and begins (a few round trips to SQLite's
            // thread, ~0.4 ms a page otherwise spent waiting).
            let begin = tokio::spawn(async move { writer.begin_write().await }.in_current_span());
            (Opening::Beginning(begin), HashMap::new())
        } else {
            let mut tx = writer.begin_write().await?;
            let stored = diff_page(&mut tx, &looked_up).await?;
            (Opening::Open(tx), stored)
        };
        let (counts, writes) = plan(page, &stored);
        let now = format_timestamp(page.now);
        let (inserts, overwrites): (Vec<&Write>, Vec<&Write>) =
            writes.iter().partition(|w| w.change == Change::Insert);
        let history: &[Write] = if page.history { &writes } else { &[] };
        let rows = page_rows::PageRows {
            inserts: &inserts,
            overwrites: &overwrites,
            history,
            scope: page.scope,
            run_id: page.run_id,
            now: &now,
        };
        let mut tx = match opening {
            Opening::Open(mut tx) => {
                rows.write(&mut tx).await?;
                tx
            }
            Opening::Beginning(begin) => rows.write_once_begun(backend, joined(begin)).await?,
        };
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

    /// A SQLite page with nothing to look up and no event to log (a first load's): all it
    /// writes is known before it has the connection, so its statements are built while the
    /// last page's transaction finishes, and its own runs framed into them on a task of its
    /// own (see `page_rows::run_framed`), which the next page waits for (see `parked`).
    async fn write_fresh_page(&self, page: &PageWrite<'_>) -> Result<PageCounts, StoreError> {
        let pools = self.pools();
        let (counts, writes) = plan(page, &HashMap::new());
        let now = format_timestamp(page.now);
        let inserts: Vec<&Write> = writes.iter().collect();
        let rows = page_rows::PageRows {
            inserts: &inserts,
            overwrites: &[],
            history: if page.history { &writes } else { &[] },
            scope: page.scope,
            run_id: page.run_id,
            now: &now,
        };
        let framed = rows.framed(run_counters(page, &counts));
        pools.parked.settle(page.run_id).await?;
        let kept = pools.parked.take();
        // The pool itself: `Pools::writer` would mark the connection as wanted.
        let writer = pools.writer_pool.clone();
        let (rows_in, groups_written) = oneshot::channel();
        let run_id = page.run_id;
        let ending = Arc::clone(&pools);
        let task = tokio::spawn(
            async move {
                let ended = page_rows::run_framed(kept, writer, framed, rows_in).await;
                ending.parked.end(run_id, ended);
            }
            .in_current_span(),
        );
        pools.parked.finishing(run_id, task);
        match groups_written.await {
            Ok(written) => written.map(|()| counts),
            // The task stopped before it could say (it panicked): `settle` has its error.
            Err(_) => pools.parked.settle(run_id).await.map(|()| counts),
        }
    }

    /// Waits for the last page `run_id` wrote to commit: its error if it failed after its
    /// write returned (see `parked`). A listing ends with this, before anything is concluded
    /// from what it wrote.
    pub async fn pages_committed(&self, run_id: i64) -> Result<(), StoreError> {
        self.pools().parked.settle(run_id).await
    }
}

/// Whether a page has records and no event to log, so that its transaction is only its rows
/// and its run's counters.
fn quiet(page: &PageWrite<'_>) -> bool {
    !page.records.is_empty() && page.events.is_empty() && page.record_events.is_empty()
}

/// A page's transaction: open, or being begun on another task.
enum Opening {
    Open(Tx<'static>),
    Beginning(JoinHandle<Result<Tx<'static>, sqlx::Error>>),
}

/// What `begin` (a task beginning the page's transaction) ended with; a task that could not
/// run (it panicked) is an error like any other failed begin.
async fn joined(
    begin: JoinHandle<Result<Tx<'static>, sqlx::Error>>,
) -> Result<Tx<'static>, StoreError> {
    match begin.await {
        Ok(begun) => Ok(begun?),
        Err(e) => Err(StoreError::Query(sqlx::Error::Protocol(format!(
            "the page's transaction did not begin: {e}"
        )))),
    }
}

/// What `page` writes given what the database holds for its looked-up ids: the counts, and
/// the new, changed and restored records with their timestamps formatted for storage.
fn plan<'a>(page: &PageWrite<'a>, stored: &HashMap<i64, Stored>) -> (PageCounts, Vec<Write<'a>>) {
    let mut counts = PageCounts::default();
    let mut writes: Vec<Write<'a>> = Vec::new();
    for record in page.records {
        let updated_at = record.updated_at.map(format_timestamp);
        let change = match stored.get(&record.id) {
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
    (counts, writes)
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

async fn add_to_run(
    conn: &mut Tx<'_>,
    page: &PageWrite<'_>,
    c: &PageCounts,
) -> Result<(), StoreError> {
    let backend = conn.backend();
    let text = sql::add_to_run(backend, 1);
    let mut q = query(backend, &text);
    for value in run_counters(page, c) {
        q = q.bind(value);
    }
    q.execute(conn).await?;
    Ok(())
}

/// What a page adds to its run's row, in `sql::add_to_run`'s order.
fn run_counters(page: &PageWrite<'_>, c: &PageCounts) -> [i64; 7] {
    [
        page.received as i64,
        c.inserted as i64,
        c.updated as i64,
        c.unchanged as i64,
        c.restored as i64,
        page.rejected as i64,
        page.run_id,
    ]
}
