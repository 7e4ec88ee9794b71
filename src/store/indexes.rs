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

use tracing::{info, instrument};

use super::backend::{query, Backend, Pool, Target};
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
    ///
    /// Only on SQLite, where one process writes at a time. On PostgreSQL several daemons
    /// write other scopes into the same tables while one loads: `DROP INDEX` would wait for
    /// their transactions and then stall them behind its exclusive lock, and their lookups
    /// would lose the indexes; there the indexes stay.
    #[instrument(skip_all)]
    pub async fn suspend_indexes(&self) -> Result<(), StoreError> {
        let writer = self.writer();
        if writer.backend() == Backend::Postgres {
            return Ok(());
        }
        let mut conn = writer.acquire().await?;
        for index in LOAD_INDEXES {
            let drop = format!("DROP INDEX IF EXISTS {}", index.name);
            query(Backend::Sqlite, &drop).execute(&mut conn).await?;
        }
        info!("secondary indexes dropped for a first load; they are built after it");
        Ok(())
    }

    /// Makes whichever [`LOAD_INDEXES`] are missing, in one transaction.
    #[instrument(skip_all)]
    pub async fn restore_indexes(&self) -> Result<(), StoreError> {
        restore_missing(&self.writer()).await
    }
}

/// The index names the database holds.
const INDEX_NAMES_SQLITE: &str = "SELECT name FROM sqlite_schema WHERE type = 'index'";
const INDEX_NAMES_POSTGRES: &str =
    "SELECT CAST(indexname AS TEXT) FROM pg_indexes WHERE schemaname = current_schema()";

/// While SQLite builds indexes: one helper thread sorts on the second core while the writer
/// reads the table (an index build over 300 000 groups: 355 -> 310 ms). Each sorter keeps a
/// list the size of the page cache, so the cache is halved meanwhile and peak memory stays
/// where it was (~30 MiB on a million groups).
const SORT_WITH_A_HELPER: [&str; 2] = ["PRAGMA threads = 1", "PRAGMA cache_size = -1000"];
/// Back to one thread and SQLite's default cache (2 000 KiB) for the page writes.
const SORT_ALONE: [&str; 2] = ["PRAGMA threads = 0", "PRAGMA cache_size = -2000"];

/// Runs `pragmas` on SQLite's connection; PostgreSQL has no such settings.
async fn sorting(conn: &mut impl Target, pragmas: [&str; 2]) -> Result<(), sqlx::Error> {
    if conn.backend() == Backend::Sqlite {
        for pragma in pragmas {
            query(Backend::Sqlite, pragma).execute(conn).await?;
        }
    }
    Ok(())
}

/// Makes `missing` in one transaction, sorting with a helper thread meanwhile.
async fn build(writer: &Pool, missing: &[SecondaryIndex]) -> Result<(), StoreError> {
    let backend = writer.backend();
    let mut tx = writer.begin_write().await?;
    sorting(&mut tx, SORT_WITH_A_HELPER).await?;
    for index in missing {
        // Another process may have made it since the look above.
        let create = index
            .create
            .replacen("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1);
        query(backend, &create).execute(&mut tx).await?;
    }
    sorting(&mut tx, SORT_ALONE).await?;
    tx.commit().await?;
    Ok(())
}

/// Makes the missing [`LOAD_INDEXES`]; reads only when none is missing, so opening a database
/// that another process writes costs no lock.
pub(super) async fn restore_missing(writer: &Pool) -> Result<(), StoreError> {
    let backend = writer.backend();
    let names = match backend {
        Backend::Sqlite => INDEX_NAMES_SQLITE,
        Backend::Postgres => INDEX_NAMES_POSTGRES,
    };
    let mut conn = writer.acquire().await?;
    let mut present = HashSet::new();
    for row in query(backend, names).fetch_all(&mut conn).await? {
        present.insert(row.get::<String>(0)?);
    }
    drop(conn);
    let missing: Vec<SecondaryIndex> = LOAD_INDEXES
        .into_iter()
        .filter(|i| !present.contains(i.name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let built = build(writer, &missing).await;
    if built.is_err() {
        // The pragmas outlive the rolled-back transaction: the connection goes back to page
        // writes as they expect it (best effort; a connection SQLite left inside a failed
        // transaction is replaced when next acquired anyway).
        if let Ok(mut conn) = writer.acquire().await {
            let _ = sorting(&mut conn, SORT_ALONE).await;
        }
    }
    built?;
    info!(
        indexes = missing.len(),
        ms = started.elapsed().as_millis() as u64,
        "secondary indexes built"
    );
    Ok(())
}
