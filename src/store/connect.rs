//! How the store's connections are made: the writer (one connection, long busy timeout),
//! the side connection for bookkeeping that must never queue behind the writer, the
//! identity of the file they opened, and the check that puts a pooled connection back into
//! a known state before it is used again.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::ConnectOptions as _;
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tracing::warn;

/// How long a writer statement waits for another writer (an analyst's `BEGIN IMMEDIATE`,
/// the other process's checkpoint) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a side statement (a skipped tick's event, the end of a run during shutdown)
/// waits for a writer: short, because what it records can also go to the journal, and
/// because shutdown has 10 s in all.
pub(super) const SIDE_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// The device and inode of a file: what a path named when it was opened. A path that names
/// another pair later was deleted or replaced in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub(super) fn of(path: &Path) -> std::io::Result<FileId> {
        let meta = std::fs::metadata(path)?;
        Ok(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

/// Every page rewrites ~1 000 random leaves of the `updated_at` index; SQLite's default
/// automatic checkpoint after 1 000 WAL pages copied them back to the database after every
/// page or two. After 8 000 pages (32 MiB) a leaf rewritten by several pages is copied once:
/// a first sync of a million groups took ~15 % less time.
const WAL_AUTOCHECKPOINT_PAGES: &str = "8000";
/// The WAL file is kept when the last connection closes (see `keep_wal_files`); a size limit
/// lets SQLite truncate it after a checkpoint, so it does not stay at its peak size.
const WAL_SIZE_LIMIT_BYTES: &str = "33554432";

fn base_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .disable_statement_logging()
}

/// The writer pool: the database is created if missing (the caller then migrates it).
///
/// One connection: a sync's statements run one after another anyway, and with more the pool
/// hands them out in turn, so each page would find its connection's page cache stale after
/// the other's commit (a full sync ran ~10 % slower, 3 MiB larger).
pub(super) async fn writer_pool(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = base_options(path)
        .create_if_missing(true)
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
        .pragma("journal_size_limit", WAL_SIZE_LIMIT_BYTES);
    SqlitePoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _meta| Box::pin(keep_wal_files(conn)))
        .before_acquire(|conn, _meta| Box::pin(known_state(conn)))
        .connect_with(options)
        .await
}

/// The side pool: one connection, opened only when first needed, never creating the file
/// (the writer did), waiting only [`SIDE_BUSY_TIMEOUT`] for a lock or for the connection.
pub(super) fn side_pool(path: &Path) -> SqlitePool {
    let options = base_options(path)
        .create_if_missing(false)
        .busy_timeout(SIDE_BUSY_TIMEOUT);
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(SIDE_BUSY_TIMEOUT)
        .after_connect(|conn, _meta| Box::pin(keep_wal_files(conn)))
        .before_acquire(|conn, _meta| Box::pin(known_state(conn)))
        .connect_lazy_with(options)
}

/// Whether an idle pooled connection may be handed out: only outside any transaction, as
/// both sqlx and SQLite see it. After SQLITE_FULL (or IOERR, NOMEM) SQLite rolls the
/// transaction back itself, sqlx's own ROLLBACK then fails with "no transaction is active"
/// and sqlx still counts the transaction as open, so every later `BEGIN` on that connection
/// would fail until the connection's lifetime ran out (30 minutes). Returning `false`
/// makes the pool close it and open a fresh one.
// Allowed for its one unsafe block: sqlx cannot ask SQLite whether a transaction is open.
#[allow(unsafe_code)]
async fn known_state(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    let sqlx_open = conn.is_in_transaction();
    let sqlite_open = {
        let mut handle = conn.lock_handle().await?;
        // SAFETY: the handle is this connection's open database, locked for the call;
        // sqlite3_get_autocommit only reads its state.
        unsafe { libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) == 0 }
    };
    if sqlx_open || sqlite_open {
        warn!("a database connection was left inside a failed transaction; replacing it");
        return Ok(false);
    }
    Ok(true)
}

/// Keeps `-wal` and `-shm` when the last connection closes. Analysts read the database with
/// read-only access to a directory they cannot write; without these files SQLite would have
/// to create them, and their reads would fail whenever the daemon is idle or stopped.
// Allowed for its one unsafe block: PERSIST_WAL is a file control, which neither sqlx nor a
// pragma can set.
#[allow(unsafe_code)]
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
