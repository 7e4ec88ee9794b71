//! The secondary indexes that a first load of a scope builds once, after the rows, instead of
//! row by row: with random `updated_at` values, each page of 1 000 rows otherwise dirties
//! ~1 000 leaves of that index, and every commit writes megabytes of index pages to the WAL
//! for a few hundred kilobytes of data. Sorting the finished table into the index is several
//! times cheaper.
//!
//! Every index here is also made by the migrations; this list is what is dropped and made
//! again. A process that dies in between leaves them missing, so every open makes the
//! missing ones before anything else reads the database (see `Store::open`).

use std::collections::HashSet;

use sqlx::SqliteConnection;
use tracing::{info, instrument};

use super::groups::BEGIN_WRITE;
use super::{Store, StoreError};

/// One secondary index on a table a sync writes per record.
#[derive(Clone, Copy, Debug)]
pub struct SecondaryIndex {
    pub name: &'static str,
    /// The statement that makes it, as the migration does.
    pub create: &'static str,
}

/// The indexes that page writes maintain row by row. The primary keys stay: the page writer
/// looks records up by id.
pub const LOAD_INDEXES: [SecondaryIndex; 4] = [
    SecondaryIndex {
        name: "customer_groups_by_updated_at",
        create: "CREATE INDEX customer_groups_by_updated_at ON customer_groups (updated_at)",
    },
    SecondaryIndex {
        name: "customer_groups_by_business_code",
        create: "CREATE INDEX customer_groups_by_business_code \
                 ON customer_groups (business_code, id)",
    },
    SecondaryIndex {
        name: "customer_group_history_by_group",
        create: "CREATE INDEX customer_group_history_by_group \
                 ON customer_group_history (group_id, history_id)",
    },
    SecondaryIndex {
        name: "customer_group_history_by_run",
        create: "CREATE INDEX customer_group_history_by_run \
                 ON customer_group_history (sync_run_id)",
    },
];

impl Store {
    /// Drops the [`LOAD_INDEXES`] before a first load. Readers see every committed page as
    /// before, only without these indexes until [`Store::restore_indexes`].
    #[instrument(skip_all)]
    pub async fn suspend_indexes(&self) -> Result<(), StoreError> {
        let mut conn = self.writer().acquire().await?;
        for index in LOAD_INDEXES {
            let drop = format!("DROP INDEX IF EXISTS {}", index.name);
            sqlx::query(&drop).execute(&mut *conn).await?;
        }
        info!("secondary indexes dropped for a first load; they are built after it");
        Ok(())
    }

    /// Makes whichever [`LOAD_INDEXES`] are missing, in one transaction.
    #[instrument(skip_all)]
    pub async fn restore_indexes(&self) -> Result<(), StoreError> {
        let mut conn = self.writer().acquire().await?;
        restore_missing(&mut conn).await
    }
}

/// Makes the missing [`LOAD_INDEXES`]; reads only when none is missing, so opening a database
/// that another process writes costs no lock.
pub(super) async fn restore_missing(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let present: HashSet<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_schema WHERE type = 'index'")
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let missing: Vec<SecondaryIndex> = LOAD_INDEXES
        .into_iter()
        .filter(|i| !present.contains(i.name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let mut tx = sqlx::Connection::begin_with(&mut *conn, BEGIN_WRITE).await?;
    for index in &missing {
        // Another process may have made it since the look above.
        let create = index
            .create
            .replacen("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1);
        sqlx::query(&create).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    info!(
        indexes = missing.len(),
        ms = started.elapsed().as_millis() as u64,
        "secondary indexes built"
    );
    Ok(())
}
