//! A database from a newer version: an applied migration this binary does not know means a
//! later xtrakit-sync changed the schema, and this one must not write into it.

use super::backend::{query, Pool};
use super::{Location, StoreError};

/// The error for the unknown applied migration `version`, with its description when the
/// migration table says it (the message stays useful without it).
pub(super) async fn too_new(writer: &Pool, location: &Location, version: i64) -> StoreError {
    let description = async {
        let mut conn = writer.acquire().await?;
        query(
            writer.backend(),
            "SELECT description FROM _sqlx_migrations WHERE version = $1",
        )
        .bind(version)
        .scalar::<String>(&mut conn)
        .await
    }
    .await
    .unwrap_or_default();
    StoreError::TooNew {
        path: location.clone(),
        version,
        description,
    }
}
