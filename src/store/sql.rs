//! Statement texts that depend on how many rows one statement carries. Only counts shape
//! these strings; every value is bound as a parameter.
//!
//! sqlx keeps each connection's prepared statements by their text, so every distinct row
//! count is one more compiled statement held in memory (a 100-row upsert compiles to
//! ~100 KiB). [`statement_sizes`] therefore cuts any number of rows into a few fixed sizes.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

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
    InsertHistory,
}

/// The text of `kind` for `rows` rows, made once per process and kept, as sqlx keeps the
/// statement compiled from it: every page asks for the same few texts (see
/// [`statement_sizes`]), so at most `1 + log2(ROWS_PER_STATEMENT)` per kind are ever made,
/// instead of a 30 kB string formatted for every statement.
pub(super) fn page_text(kind: PageText, rows: usize) -> &'static str {
    static TEXTS: OnceLock<Mutex<HashMap<(PageText, usize), &'static str>>> = OnceLock::new();
    let texts = TEXTS.get_or_init(Default::default);
    // A panic elsewhere while the lock was held left the map whole: entries are only added.
    let mut texts = texts.lock().unwrap_or_else(PoisonError::into_inner);
    texts.entry((kind, rows)).or_insert_with(|| {
        let text = match kind {
            PageText::InsertGroups => insert_groups(rows),
            PageText::UpdateGroups => update_groups(rows),
            PageText::InsertHistory => insert_history(rows),
        };
        Box::leak(text.into_boxed_str())
    })
}

/// `(?, ?, ?), (?, ?, ?)` for `rows` rows of `columns` columns.
pub(super) fn values_placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// `?, ?, ?` for an `IN (...)` list.
pub(super) fn list_placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

const GROUP_COLUMNS: &str = "id, business_code, group_name, group_description, created_at, \
                             updated_at, raw_json, first_seen_at, last_changed_at, deleted_at";

/// Groups not stored yet (the page's transaction has just looked). `OR FAIL` instead of the
/// default `ABORT`: a failed statement fails the whole page transaction anyway, and a
/// multi-row insert that cannot abort half-way needs no statement journal, which would
/// otherwise copy every index page the statement touches.
fn insert_groups(rows: usize) -> String {
    format!(
        "INSERT OR FAIL INTO customer_groups ({GROUP_COLUMNS}) VALUES {}",
        values_placeholders(rows, 10)
    )
}

/// Overwrites stored groups (changed, or deleted and back) from rows laid out as for
/// [`insert_groups`]; `first_seen_at` is kept. The `WHERE` makes a row that is already
/// identical (and live) cost no write, whatever the caller believed. An `UPDATE … FROM` rather
/// than an upsert, with `OR FAIL`: an upsert's update may abort half-way, so SQLite copied
/// every page it touched to a statement journal first, a fifth of an incremental run's time.
fn update_groups(rows: usize) -> String {
    format!(
        "UPDATE OR FAIL customer_groups SET \
         business_code = v.column2, group_name = v.column3, group_description = v.column4, \
         created_at = v.column5, updated_at = v.column6, raw_json = v.column7, \
         last_changed_at = v.column9, deleted_at = NULL \
         FROM (VALUES {}) AS v \
         WHERE customer_groups.id = v.column1 \
         AND (customer_groups.raw_json IS NOT v.column7 \
         OR customer_groups.deleted_at IS NOT NULL)",
        values_placeholders(rows, 10)
    )
}

fn insert_history(rows: usize) -> String {
    format!(
        "INSERT INTO customer_group_history \
         (group_id, sync_run_id, change, recorded_at, updated_at, raw_json) VALUES {}",
        values_placeholders(rows, 6)
    )
}

/// Which `(event, detail)` pairs `sync_log` already holds; the `(event, at)` index narrows
/// the search to the event's rows.
pub(super) fn logged_details(pairs: usize) -> String {
    format!(
        "SELECT DISTINCT detail FROM sync_log WHERE (event, detail) IN (VALUES {})",
        values_placeholders(pairs, 2)
    )
}

pub(super) fn insert_log(rows: usize) -> String {
    format!(
        "INSERT INTO sync_log (sync_run_id, at, level, event, http_status, message, detail) \
         VALUES {}",
        values_placeholders(rows, 7)
    )
}

/// For each `(id, raw_json)` pair that is stored: its id, whether it is deleted, whether
/// the stored JSON is the same text, and the stored `updated_at`. The comparison happens in SQLite, so no stored JSON is
/// copied out; ids not stored return no row.
pub(super) fn diff_page(records: usize) -> String {
    format!(
        "WITH page (id, raw_json) AS (VALUES {}) \
         SELECT g.id, g.deleted_at IS NOT NULL, g.raw_json IS page.raw_json, g.updated_at \
         FROM page JOIN customer_groups AS g ON g.id = page.id",
        values_placeholders(records, 2)
    )
}

pub(super) fn mark_deleted(ids: usize) -> String {
    format!(
        "UPDATE customer_groups SET deleted_at = ?, last_changed_at = ? \
         WHERE deleted_at IS NULL AND id IN ({})",
        list_placeholders(ids)
    )
}

pub(super) fn history_of_deleted(ids: usize) -> String {
    format!(
        "INSERT INTO customer_group_history \
         (group_id, sync_run_id, change, recorded_at, updated_at, raw_json) \
         SELECT id, ?, 'delete', ?, updated_at, raw_json FROM customer_groups \
         WHERE deleted_at IS NULL AND id IN ({})",
        list_placeholders(ids)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_match_rows_and_columns() {
        assert_eq!(values_placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(list_placeholders(3), "?, ?, ?");
        assert_eq!(
            update_groups(ROWS_PER_STATEMENT).matches('?').count(),
            10 * ROWS_PER_STATEMENT
        );
        assert_eq!(
            insert_groups(ROWS_PER_STATEMENT).matches('?').count(),
            10 * ROWS_PER_STATEMENT
        );
        assert_eq!(diff_page(RECORDS_PER_DIFF).matches('?').count(), 1000);
    }

    #[test]
    fn page_texts_are_made_once() {
        let text = page_text(PageText::InsertHistory, 3);
        assert_eq!(text, insert_history(3));
        assert!(std::ptr::eq(text, page_text(PageText::InsertHistory, 3)));
        assert_ne!(text, page_text(PageText::InsertHistory, 2));
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
