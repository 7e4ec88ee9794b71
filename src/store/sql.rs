//! Statement texts that depend on how many rows one statement carries. Only counts shape
//! these strings; every value is bound as a parameter.

/// Rows per multi-row statement: ~100 rows amortise statement overhead (≈3× faster than
/// one row per statement) while staying far below SQLite's parameter limit.
pub const ROWS_PER_STATEMENT: usize = 100;

/// `(?, ?, ?), (?, ?, ?)` for `rows` rows of `columns` columns.
pub fn values_placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// `?, ?, ?` for an `IN (...)` list.
pub fn list_placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Insert new groups, or overwrite changed or deleted ones; `first_seen_at` is kept.
pub fn upsert_groups(rows: usize) -> String {
    format!(
        "INSERT INTO customer_groups (id, business_code, group_name, group_description, \
         created_at, updated_at, raw_json, first_seen_at, last_changed_at, deleted_at) \
         VALUES {} \
         ON CONFLICT (id) DO UPDATE SET \
         business_code = excluded.business_code, group_name = excluded.group_name, \
         group_description = excluded.group_description, created_at = excluded.created_at, \
         updated_at = excluded.updated_at, raw_json = excluded.raw_json, \
         last_changed_at = excluded.last_changed_at, deleted_at = NULL \
         WHERE customer_groups.raw_json IS NOT excluded.raw_json \
         OR customer_groups.deleted_at IS NOT NULL",
        values_placeholders(rows, 10)
    )
}

pub fn insert_history(rows: usize) -> String {
    format!(
        "INSERT INTO customer_group_history \
         (group_id, sync_run_id, change, recorded_at, updated_at, raw_json) VALUES {}",
        values_placeholders(rows, 6)
    )
}

pub fn insert_log(rows: usize) -> String {
    format!(
        "INSERT INTO sync_log (sync_run_id, at, level, event, http_status, message, detail) \
         VALUES {}",
        values_placeholders(rows, 7)
    )
}

pub fn stored_versions(ids: usize) -> String {
    format!(
        "SELECT id, raw_json, deleted_at IS NOT NULL AS deleted FROM customer_groups \
         WHERE id IN ({})",
        list_placeholders(ids)
    )
}

pub fn mark_deleted(ids: usize) -> String {
    format!(
        "UPDATE customer_groups SET deleted_at = ?, last_changed_at = ? WHERE id IN ({})",
        list_placeholders(ids)
    )
}

pub fn history_of_deleted(ids: usize) -> String {
    format!(
        "INSERT INTO customer_group_history \
         (group_id, sync_run_id, change, recorded_at, updated_at, raw_json) \
         SELECT id, ?, 'delete', ?, updated_at, raw_json FROM customer_groups \
         WHERE id IN ({})",
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
        assert_eq!(upsert_groups(ROWS_PER_STATEMENT).matches('?').count(), 1000);
    }
}
