//! A database from a newer version: an applied migration this binary does not know means a
//! later xtrakit-sync changed the schema, and this one must not write into it.

use std::path::Path;

use sqlx::SqlitePool;

use super::StoreError;

/// The error for the unknown applied migration `version`, with its description when the
/// migration table says it (the message stays useful without it).
pub(super) async fn too_new(writer: &SqlitePool, path: &Path, version: i64) -> StoreError {
    let description = sqlx::query_scalar::<_, String>(
        "SELECT description FROM _sqlx_migrations WHERE version = ?",
    )
    .bind(version)
    .fetch_optional(writer)
    .await
    .ok()
    .flatten()
    .unwrap_or_default();
    StoreError::TooNew {
        path: path.to_owned(),
        version,
        description,
    }
}
