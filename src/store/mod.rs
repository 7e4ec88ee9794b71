//! The SQLite database: opening it the way a live analyst-facing file must be opened,
//! embedded migrations, the page writer, the run log and the status queries.

mod admin;
mod deletions;
mod groups;
mod runs;
mod sql;
mod status;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::ConnectOptions as _;
use sqlx::{SqliteConnection, SqlitePool};
use tracing::instrument;

pub use admin::Change;
pub use groups::{PageCounts, PageWrite};
pub use runs::{Level, LogEvent, RunEnd, RunStart, ScopeState};
pub use status::{RecentRun, ScopeStatus, StatusReport, TableCounts};

/// How long a statement waits for another writer (an analyst's `BEGIN IMMEDIATE`, the
/// other process's checkpoint) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot migrate database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// How often opening a database is tried when another process is creating it too.
const OPEN_ATTEMPTS: u32 = 5;

/// Whether a failed open may succeed if tried again: another process was creating the same
/// new database at the same moment (two `--once` started together). Switching a new file to
/// WAL can then fail with SQLITE_BUSY at once (SQLite's deadlock avoidance skips the busy
/// handler), and since sqlx takes no migration lock on SQLite, the later of two processes
/// applying the same migration fails ("table already exists") and rolls back. Looking again
/// finds the database ready. A genuine failure fails every attempt.
fn is_contention(e: &StoreError) -> bool {
    match e {
        StoreError::Open {
            source: sqlx::Error::Database(db),
            ..
        } => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        StoreError::Migrate { .. } => true,
        _ => false,
    }
}

/// The database of one xtrakit-sync installation.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) and migrates the database. WAL lets analysts read while
    /// a sync writes; `synchronous=NORMAL` is durable across process crashes in WAL mode.
    #[instrument(skip_all, fields(path = %path.display()))]
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let mut attempt = 1;
        loop {
            match Store::open_once(path).await {
                Err(e) if attempt < OPEN_ATTEMPTS && is_contention(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                result => return result,
            }
        }
    }

    async fn open_once(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .disable_statement_logging();
        // One connection: a sync's statements run one after another anyway, and with more
        // the pool hands them out in turn, so each page would find its connection's page
        // cache stale after the other's commit (a full sync ran ~10 % slower, 3 MiB larger).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .after_connect(|conn, _meta| Box::pin(keep_wal_files(conn)))
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let migrated = sqlx::migrate!().run(&pool).await;
        if let Err(source) = migrated {
            pool.close().await;
            return Err(StoreError::Migrate {
                path: path.to_owned(),
                source,
            });
        }
        Ok(Store {
            pool,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens an existing database only to read it (`status`): no migration, no write, so an
    /// analyst with read access to the files can run it while the daemon writes.
    #[instrument(skip_all, fields(path = %path.display()))]
    pub async fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(BUSY_TIMEOUT)
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        Ok(Store {
            pool,
            path: path.to_owned(),
        })
    }

    /// Closes every connection, so that the WAL is checkpointed into the database.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Keeps `-wal` and `-shm` when the last connection closes. Analysts read the database with
/// read-only access to a directory they cannot write; without these files SQLite would have
/// to create them, and their reads would fail whenever the daemon is idle or stopped.
async fn keep_wal_files(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    use libsqlite3_sys::{sqlite3_file_control, SQLITE_FCNTL_PERSIST_WAL, SQLITE_OK};
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    let mut on: std::ffi::c_int = 1;
    // SAFETY: `db` is this connection's open handle, locked for the duration of the call;
    // "main" is a NUL-terminated schema name; PERSIST_WAL reads and writes one int.
    let rc = unsafe {
        sqlite3_file_control(
            db,
            c"main".as_ptr(),
            SQLITE_FCNTL_PERSIST_WAL,
            (&mut on as *mut std::ffi::c_int).cast(),
        )
    };
    if rc == SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!(
            "cannot keep the WAL files (sqlite3_file_control returned {rc})"
        )))
    }
}
