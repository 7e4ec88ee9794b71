//! Statement texts that depend on how many rows one statement carries. Only counts shape
//! these strings; every value is bound as a parameter.
//!
//! sqlx keeps each connection's prepared statements by their text, so every distinct row
//! count is one more compiled statement held in memory (a 100-row upsert compiles to
//! ~100 KiB). [`statement_sizes`] therefore cuts any number of rows into a few fixed sizes.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use super::backend::Backend;

/// Rows per multi-row statement: a page of 1 000 records in one statement per table. Each
/// statement is a round trip to sqlx's worker thread, during which the writer waits for the
/// next one to be bound: 100-row statements cost a first load of 300 000 groups ~0.6 s more
/// writer-thread time than 1 000-row ones (0.3 s more with 500). 10 000 parameters stay far
/// below SQLite's limit of 32 766; the compiled statements cost ~1 MiB each.
pub(super) const ROWS_PER_STATEMENT: usize = 1000;

/// `sync_log` rows per statement: a page rarely has more events than this, and each count is
/// one more compiled statement kept by sqlx, so they stay small.
pub(super) const EVENTS_PER_STATEMENT: usize = 100;

/// Records compared per diff statement (two parameters each).
pub(super) const RECORDS_PER_DIFF: usize = 500;

/// How `total` rows are split into statements of at most `max` rows: as many full statements
/// as fit, then the remainder as descending powers of two. Whatever the totals, one kind of
/// statement then has at most `1 + log2(max)` distinct texts.
pub(super) fn statement_sizes(total: usize, max: usize) -> impl Iterator<Item = usize> {
    let full = total / max.max(1);
    let rest = total - full * max.max(1);
    let powers = (0..usize::BITS)
        .rev()
        .map(|bit| 1usize << bit)
        .filter(move |p| rest & p != 0);
    std::iter::repeat_n(max, full).chain(powers)
}

/// The page writes whose text depends on how many rows a statement carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum PageText {
    InsertGroups,
    UpdateGroups,
    /// History rows copied from the page's just-written groups (SQLite).
    History,
}

/// What else of its page's transaction a SQLite statement carries (see
/// `page_rows::PageRows::framed`): `BEGIN IMMEDIATE` before its rows, the run's counters
/// and `COMMIT` after them, or both. Each part folded in is one round trip fewer to SQLite's
/// thread, which otherwise waits for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Frame {
    Inner,
    First,
    Last,
    Only,
}

impl Frame {
    /// The frame of statement `index` of `count`.
    pub(super) fn of(index: usize, count: usize) -> Frame {
        match (index == 0, index + 1 == count) {
            (true, true) => Frame::Only,
            (true, false) => Frame::First,
            (false, true) => Frame::Last,
            (false, false) => Frame::Inner,
        }
    }

    /// Whether the statement ends with the run's counters (bound after its rows) and COMMIT.
    pub(super) fn ends(self) -> bool {
        matches!(self, Frame::Last | Frame::Only)
    }
}

/// The text of `kind` for `rows` rows on `backend`, made once per process and kept, as sqlx
/// keeps the statement compiled from it: every page asks for the same few texts (see
/// [`statement_sizes`]), so at most `1 + log2(ROWS_PER_STATEMENT)` per kind are ever made,
/// instead of a 30 kB string formatted for every statement.
pub(super) fn page_text(kind: PageText, backend: Backend, rows: usize) -> &'static str {
    framed_text(kind, backend, rows, Frame::Inner)
}

/// [`page_text`] with the part of the transaction `frame` names (SQLite only: PostgreSQL's
/// pages are never framed); four times as many texts at most.
pub(super) fn framed_text(
    kind: PageText,
    backend: Backend,
    rows: usize,
    frame: Frame,
) -> &'static str {
    type Texts = HashMap<(PageText, Backend, usize, Frame), &'static str>;
    static TEXTS: OnceLock<Mutex<Texts>> = OnceLock::new();
    let texts = TEXTS.get_or_init(Default::default);
    // A panic elsewhere while the lock was held left the map whole: entries are only added.
    let mut texts = texts.lock().unwrap_or_else(PoisonError::into_inner);
    texts
        .entry((kind, backend, rows, frame))
        .or_insert_with(|| {
            let rows = match kind {
                PageText::InsertGroups => insert_groups(backend, rows),
                PageText::UpdateGroups => update_groups(backend, rows),
                PageText::History => history_from_groups(backend, rows),
            };
            let text = match frame {
                Frame::Inner => rows,
                Frame::First => format!("BEGIN IMMEDIATE; {rows}"),
                Frame::Last => format!("{rows}; {}; COMMIT", add_to_run(backend, 1)),
                Frame::Only => format!(
                    "BEGIN IMMEDIATE; {rows}; {}; COMMIT",
                    add_to_run(backend, 1)
                ),
            };
            Box::leak(text.into_boxed_str())
        })
}

/// Adds a page's counts to its run: received, inserted, updated, unchanged, restored and
/// rejected, then the run's id, from parameter `first` on.
pub(super) fn add_to_run(backend: Backend, first: usize) -> String {
    let p = |k: usize| backend.param(first + k);
    format!(
        "UPDATE sync_runs SET pages = pages + 1, received = received + {}, \
         inserted = inserted + {}, updated = updated + {}, unchanged = unchanged + {}, \
         restored = restored + {}, rejected = rejected + {} WHERE id = {}",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6)
    )
}

/// `(?, ?, ?), (?, ?, ?)` on SQLite, `($1, $2, $3), ($4, $5, $6)` on PostgreSQL, for `rows`
/// rows of `columns` columns, the first being parameter `first`. Every parameter of a
/// generated statement is bound in the order it appears.
///
/// SQLite finds a numbered parameter's number by walking a list of every parameter
/// (`sqlite3VListNumToName`), so binding a statement of 10 000 `$N` costs 10 000² steps: a
/// first load of 100 000 groups took 19 s instead of 0.9 s. Its generated statements use
/// anonymous `?`, which are bound by position; PostgreSQL reads only `$N`.
pub(super) fn values_placeholders(
    backend: Backend,
    first: usize,
    rows: usize,
    columns: usize,
) -> String {
    let mut text = String::with_capacity(rows * columns * 7);
    for row in 0..rows {
        text.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                text.push_str(", ");
            }
            backend.push_param(&mut text, first + row * columns + column);
        }
        text.push(')');
    }
    text
}

/// `?, ?, ?` (SQLite) or `$3, $4, $5` (PostgreSQL, from `first`) for an `IN (...)` list.
pub(super) fn list_placeholders(backend: Backend, first: usize, n: usize) -> String {
    let mut text = String::with_capacity(n * 7);
    for k in first..first + n {
        if k > first {
            text.push_str(", ");
        }
        backend.push_param(&mut text, k);
    }
    text
}

pub(super) const GROUP_COLUMNS: &str =
    "id, business_code, group_name, group_description, created_at, \
                             updated_at, raw_json, first_seen_at, last_changed_at, deleted_at";

/// Groups not stored yet (the page's transaction has just looked). `OR FAIL` instead of the
/// default `ABORT`: a failed statement fails the whole page transaction anyway, and a
/// multi-row insert that cannot abort half-way needs no statement journal, which would
/// otherwise copy every index page the statement touches.
fn insert_groups(backend: Backend, rows: usize) -> String {
    format!(
        "INSERT {}INTO customer_groups ({GROUP_COLUMNS}) VALUES {}",
        backend.or_fail(),
        values_placeholders(backend, 1, rows, 10)
    )
}

/// Overwrites stored groups (changed, or deleted and back) from rows laid out as for
/// [`insert_groups`]; `first_seen_at` is kept. The `WHERE` makes a row that is already
/// identical (and live) cost no write, whatever the caller believed. An `UPDATE … FROM` rather
/// than an upsert, with `OR FAIL`: an upsert's update may abort half-way, so SQLite copied
/// every page it touched to a statement journal first, a fifth of an incremental run's time.
fn update_groups(backend: Backend, rows: usize) -> String {
    format!(
        "UPDATE {}customer_groups SET \
         business_code = v.column2, group_name = v.column3, group_description = v.column4, \
         created_at = v.column5, updated_at = v.column6, raw_json = v.column7, \
         last_changed_at = v.column9, deleted_at = NULL \
         FROM (VALUES {}) AS v \
         WHERE customer_groups.id = v.column1 \
         AND (customer_groups.raw_json IS DISTINCT FROM v.column7 \
         OR customer_groups.deleted_at IS NOT NULL)",
        backend.or_fail(),
        values_placeholders(backend, 1, rows, 10)
    )
}

pub(super) const HISTORY_COLUMNS: &str =
    "group_id, sync_run_id, change, recorded_at, updated_at, raw_json";

/// The `COPY` statements of PostgreSQL's page writes (see `copy`).
pub(super) fn copy_groups() -> String {
    format!("COPY customer_groups ({GROUP_COLUMNS}) FROM STDIN")
}

pub(super) fn copy_history() -> String {
    format!("COPY customer_group_history ({HISTORY_COLUMNS}) FROM STDIN")
}

/// History rows for `rows` groups the page has just written, copied from their stored rows:
/// parameters are the run id and the time, then `(id, change)` per group. Binding the raw JSON
/// a second time cost SQLite's one thread more than reading it back from the page it has just
/// written. `CROSS JOIN` keeps the `VALUES` list the outer loop, so history ids follow the
/// page's order. SQLite only: PostgreSQL copies its history rows in (see `copy`).
fn history_from_groups(backend: Backend, rows: usize) -> String {
    format!(
        "INSERT INTO customer_group_history ({HISTORY_COLUMNS}) \
         SELECT g.id, {}, v.column2, {}, g.updated_at, g.raw_json \
         FROM (VALUES {}) AS v CROSS JOIN customer_groups AS g ON g.id = v.column1",
        backend.param(1),
        backend.param(2),
        values_placeholders(backend, 3, rows, 2)
    )
}

/// Which `(event, detail)` pairs `sync_log` already holds; the `(event, at)` index narrows
/// the search to the event's rows.
pub(super) fn logged_details(backend: Backend, pairs: usize) -> String {
    format!(
        "SELECT DISTINCT detail FROM sync_log WHERE (event, detail) IN (VALUES {})",
        values_placeholders(backend, 1, pairs, 2)
    )
}

pub(super) fn insert_log(backend: Backend, rows: usize) -> String {
    format!(
        "INSERT INTO sync_log (sync_run_id, at, level, event, http_status, message, detail) \
         VALUES {}",
        values_placeholders(backend, 1, rows, 7)
    )
}

/// For each `(id, raw_json)` pair that is stored: its id, whether it is deleted, whether
/// the stored JSON is the same text, and the stored `updated_at`. The comparison happens in SQLite, so no stored JSON is
/// copied out; ids not stored return no row.
pub(super) fn diff_page(backend: Backend, records: usize) -> String {
    format!(
        "WITH page (id, raw_json) AS (VALUES {}) \
         SELECT g.id, g.deleted_at IS NOT NULL, g.raw_json IS NOT DISTINCT FROM page.raw_json, \
         g.updated_at FROM page JOIN customer_groups AS g ON g.id = page.id",
        values_placeholders(backend, 1, records, 2)
    )
}

/// Parameters: the time twice, then the ids.
pub(super) fn mark_deleted(backend: Backend, ids: usize) -> String {
    format!(
        "UPDATE customer_groups SET deleted_at = {}, last_changed_at = {} \
         WHERE deleted_at IS NULL AND id IN ({})",
        backend.param(1),
        backend.param(2),
        list_placeholders(backend, 3, ids)
    )
}

/// Parameters: the run id, the time, then the ids.
pub(super) fn history_of_deleted(backend: Backend, ids: usize) -> String {
    format!(
        "INSERT INTO customer_group_history \
         (group_id, sync_run_id, change, recorded_at, updated_at, raw_json) \
         SELECT id, {}, 'delete', {}, updated_at, raw_json FROM customer_groups \
         WHERE deleted_at IS NULL AND id IN ({})",
        backend.param(1),
        backend.param(2),
        list_placeholders(backend, 3, ids)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_match_rows_and_columns() {
        let (sqlite, pg) = (Backend::Sqlite, Backend::Postgres);
        assert_eq!(values_placeholders(sqlite, 1, 2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(
            values_placeholders(pg, 1, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(values_placeholders(pg, 3, 1, 2), "($3, $4)");
        assert_eq!(list_placeholders(sqlite, 3, 3), "?, ?, ?");
        assert_eq!(list_placeholders(pg, 3, 3), "$3, $4, $5");
        let update = update_groups(pg, ROWS_PER_STATEMENT);
        assert_eq!(update.matches('$').count(), 10 * ROWS_PER_STATEMENT);
        assert!(
            update.contains("$10000)"),
            "{}",
            &update[update.len() - 40..]
        );
        let update = update_groups(sqlite, ROWS_PER_STATEMENT);
        assert_eq!(update.matches('?').count(), 10 * ROWS_PER_STATEMENT);
        assert!(
            !update.contains('$'),
            "no numbered parameter in SQLite's big statements"
        );
        assert!(insert_groups(sqlite, 1).starts_with("INSERT OR FAIL INTO"));
        assert!(insert_groups(pg, 1).starts_with("INSERT INTO"));
        assert_eq!(
            diff_page(sqlite, RECORDS_PER_DIFF).matches('?').count(),
            1000
        );
        assert!(mark_deleted(pg, 2).ends_with("IN ($3, $4)"));
        assert!(history_of_deleted(sqlite, 2).ends_with("IN (?, ?)"));
    }

    #[test]
    fn page_texts_are_made_once() {
        let kind = PageText::History;
        let text = page_text(kind, Backend::Sqlite, 3);
        assert_eq!(text, history_from_groups(Backend::Sqlite, 3));
        assert!(std::ptr::eq(text, page_text(kind, Backend::Sqlite, 3)));
        assert_ne!(text, page_text(kind, Backend::Sqlite, 2));
        assert_ne!(text, page_text(kind, Backend::Postgres, 3));
    }

    #[test]
    fn a_framed_page_begins_in_its_first_statement_and_commits_in_its_last() {
        let frames: Vec<Frame> = (0..3).map(|i| Frame::of(i, 3)).collect();
        assert_eq!(frames, [Frame::First, Frame::Inner, Frame::Last]);
        assert_eq!(Frame::of(0, 1), Frame::Only);
        let (kind, sqlite) = (PageText::InsertGroups, Backend::Sqlite);
        let rows = page_text(kind, sqlite, 2);
        let first = framed_text(kind, sqlite, 2, Frame::First);
        assert_eq!(first, format!("BEGIN IMMEDIATE; {rows}"));
        let last = framed_text(kind, sqlite, 2, Frame::Last);
        assert!(
            last.starts_with(rows) && last.ends_with("; COMMIT"),
            "{last}"
        );
        assert_eq!(
            last.matches('?').count(),
            rows.matches('?').count() + 7,
            "the run's seven counters follow the rows"
        );
        let only = framed_text(kind, sqlite, 2, Frame::Only);
        assert!(only.starts_with("BEGIN IMMEDIATE; ") && only.ends_with(last));
        assert!(add_to_run(Backend::Postgres, 1).ends_with("WHERE id = $7"));
    }

    #[test]
    fn statement_sizes_cover_every_row_with_few_distinct_sizes() {
        let mut distinct = std::collections::BTreeSet::new();
        for total in 0..=1000 {
            let sizes: Vec<usize> = statement_sizes(total, 100).collect();
            assert_eq!(sizes.iter().sum::<usize>(), total);
            assert!(sizes.iter().all(|&s| s > 0 && s <= 100));
            distinct.extend(sizes);
        }
        assert_eq!(
            distinct.into_iter().collect::<Vec<_>>(),
            [1, 2, 4, 8, 16, 32, 64, 100]
        );
        assert_eq!(
            statement_sizes(1000, 100).collect::<Vec<_>>(),
            [100; 10],
            "a full page is ten equal statements"
        );
    }
}
