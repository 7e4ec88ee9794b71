//! Writing groups: one transaction per page, a write only for new or changed records.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use futures_util::future::join;
use futures_util::TryStreamExt;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Row, Sqlite, SqliteConnection};
use tracing::{debug, instrument};

use super::runs::{insert_events, LogEvent};
use super::sql::{self, PageText};
use super::{Store, StoreError};
use crate::domain::{format_timestamp, GroupRecord, Scope};

/// Writer's exclusive lock up front: a deferred transaction that reads first could fail to
/// upgrade while an analyst's write is pending, instead of waiting for it.
pub(super) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

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
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
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
        let history: &[Write] = if page.history { &writes } else { &[] };
        let statements = group_statements(&inserts, PageText::InsertGroups, page.scope, &now)
            .chain(group_statements(
                &overwrites,
                PageText::UpdateGroups,
                page.scope,
                &now,
            ))
            .chain(history_statements(history, page.run_id, &now));
        execute_overlapped(&mut tx, statements).await?;
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
    conn: &mut SqliteConnection,
    records: &[&GroupRecord],
) -> Result<HashMap<i64, Stored>, StoreError> {
    let mut stored = HashMap::with_capacity(records.len());
    let mut rest = records;
    for size in sql::statement_sizes(records.len(), sql::RECORDS_PER_DIFF) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let text = sql::diff_page(chunk.len());
        let mut q = sqlx::query(&text);
        for r in chunk {
            q = q.bind(r.id).bind(r.raw_json.as_str());
        }
        let mut rows = q.fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            let id: i64 = row.try_get(0)?;
            let deleted: bool = row.try_get(1)?;
            let same_json: bool = row.try_get(2)?;
            let updated_at: Option<String> = row.try_get(3)?;
            stored.insert(
                id,
                Stored {
                    deleted,
                    same_json,
                    updated_at,
                },
            );
        }
    }
    Ok(stored)
}

/// A statement with its values bound, owning them: built while the statement before it runs.
type Statement = Query<'static, Sqlite, SqliteArguments<'static>>;

/// Runs `statements` in order, building each while SQLite runs the one before it. sqlx binds
/// on the caller's thread, and SQLite's worker thread would otherwise wait while each is built
/// (in a first load of a million groups it waited ~3 s of 9.2 s, mostly for this). The values
/// are owned, so sqlx copies nothing more on the caller's side once a statement is sent.
async fn execute_overlapped(
    conn: &mut SqliteConnection,
    mut statements: impl Iterator<Item = Statement>,
) -> Result<(), StoreError> {
    let mut next = statements.next();
    while let Some(current) = next {
        // `join` polls the execution first: the statement is on its way before the next is
        // built.
        let (done, built) = join(current.execute(&mut *conn), async { statements.next() }).await;
        done?;
        next = built;
    }
    Ok(())
}

/// The statements that write `rows` to `customer_groups` (`kind`: inserts or overwrites),
/// each made when asked for.
fn group_statements<'a>(
    rows: &'a [&'a Write<'a>],
    kind: PageText,
    scope: Scope,
    now: &'a str,
) -> impl Iterator<Item = Statement> + 'a {
    let mut rest = rows;
    sql::statement_sizes(rows.len(), sql::ROWS_PER_STATEMENT).map(move |size| {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let mut q = sqlx::query(sql::page_text(kind, size));
        for w in chunk {
            let r = w.record;
            q = q
                .bind(r.id)
                .bind(r.business_code.or(scope.business_code()))
                .bind(r.group_name.clone())
                .bind(r.group_description.clone())
                .bind(w.created_at.clone())
                .bind(w.updated_at.clone())
                .bind(r.raw_json.clone())
                .bind(now.to_owned())
                .bind(now.to_owned())
                .bind(None::<String>);
        }
        q
    })
}

/// The statements that add a history row for each of `writes`, each made when asked for.
fn history_statements<'a>(
    writes: &'a [Write<'a>],
    run_id: i64,
    now: &'a str,
) -> impl Iterator<Item = Statement> + 'a {
    let mut rest = writes;
    sql::statement_sizes(writes.len(), sql::ROWS_PER_STATEMENT).map(move |size| {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let mut q = sqlx::query(sql::page_text(PageText::InsertHistory, size));
        for w in chunk {
            q = q
                .bind(w.record.id)
                .bind(run_id)
                .bind(w.change)
                .bind(now.to_owned())
                .bind(w.updated_at.clone())
                .bind(w.record.raw_json.clone());
        }
        q
    })
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
