//! The database, SQLite or PostgreSQL: opening it the way a live analyst-facing database
//! must be opened, embedded migrations, the page writer, the run log and the status queries.
//! Every statement is written once; `backend` is the seam between the two databases.

mod admin;
mod backend;
mod bookkeeping;
#[macro_use]
mod columns;
mod connect;
mod copy;
mod deletions;
mod groups;
mod identity;
mod indexes;
mod location;
mod metrics;
mod page_rows;
mod parked;
mod postgres;
mod retention;
mod runs;
mod sql;
mod status;
#[cfg(test)]
mod tests_cancel;
mod version;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::ConnectOptions as _;
use tokio_util::sync::CancellationToken;
use tracing::{instrument, warn};

use backend::Pool;
use connect::FileId;

pub use admin::Change;

pub use groups::{PageCounts, PageWrite};
pub use indexes::{SecondaryIndex, LOAD_INDEXES};
pub use location::{Location, LocationError, PostgresUrl};
pub use metrics::{MetricTotals, RowsByCode, RunsByStatus, ScopeTotals};
pub use postgres::ScopeLock;
pub use retention::{PruneBefore, Pruned, PRUNE_BATCH};
pub use runs::{Level, LogEvent, RunEnd, RunStart, ScopeState};
pub use status::{RecentRun, ScopeStatus, StatusReport, TableCounts};

/// How long `status` waits for a writer's checkpoint before giving up.
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open { path: Location, source: sqlx::Error },
    #[error("cannot migrate database {path}: {source}")]
    Migrate {
        path: Location,
        source: sqlx::migrate::MigrateError,
    },
    /// An applied migration this binary does not know: a newer version migrated the file.
    #[error(
        "database {path} was created by a newer xtrakit-sync (its schema has migration {version} \
         \"{}\", unknown to xtrakit-sync {}); install that version or a later one, or \
         restore a backup made before the upgrade",
        crate::config::escape_controls(description),
        env!("CARGO_PKG_VERSION")
    )]
    TooNew {
        path: Location,
        version: i64,
        description: String,
    },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("cannot look at database file {path}: {source}")]
    Stat {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the database file {path} was deleted or replaced during the run; \
         what the run wrote went to the old file"
    )]
    Replaced { path: Location },
    #[error("the database did not answer within {} s while stopping", .0.as_secs())]
    StopTimeout(Duration),
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

/// The database of one xtrakit-sync installation. Clones share the same connections, and
/// a reopen (the file was deleted or replaced) is seen by every clone.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    location: Location,
    open: RwLock<Arc<Pools>>,
    /// Cancelled when the process is stopping: from then on every statement of the run log
    /// goes through the side connection with a bounded wait.
    stopping: OnceLock<CancellationToken>,
    /// Run ends that could not be written when the run ended (see `bookkeeping`).
    unfinished: Mutex<Vec<bookkeeping::UnfinishedRun>>,
}

/// The connections to one database.
#[derive(Debug)]
struct Pools {
    /// Taken through [`Pools::writer`], which returns a parked connection first.
    writer_pool: Pool,
    side: Pool,
    /// What the SQLite path named when it was opened; `None` for a read-only store and for
    /// PostgreSQL.
    file: Option<FileId>,
    parked: parked::Parked,
}

impl Pools {
    /// The writer's pool, with its connection in it rather than kept by the page writer.
    fn writer(&self) -> Pool {
        self.parked.release();
        self.writer_pool.clone()
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the database. On SQLite, WAL lets analysts
    /// read while a sync writes; `synchronous=NORMAL` is durable across process crashes in
    /// WAL mode.
    #[instrument(skip_all, fields(database = %location))]
    pub async fn open(location: &Location) -> Result<Store, StoreError> {
        let pools = match location {
            Location::Sqlite(path) => open_pools(path).await?,
            Location::Postgres(url) => {
                let pool = postgres::open(url).await?;
                indexes::restore_missing(&pool).await?;
                Pools {
                    writer_pool: pool.clone(),
                    side: pool,
                    file: None,
                    parked: Default::default(),
                }
            }
        };
        Ok(Store::with(location, pools))
    }

    fn with(location: &Location, pools: Pools) -> Store {
        Store {
            inner: Arc::new(Inner {
                location: location.clone(),
                open: RwLock::new(Arc::new(pools)),
                stopping: OnceLock::new(),
                unfinished: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Where the database is.
    pub fn location(&self) -> &Location {
        &self.inner.location
    }

    fn pools(&self) -> Arc<Pools> {
        let guard = self.inner.open.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&guard)
    }

    /// The writer connection's pool.
    fn writer(&self) -> Pool {
        self.pools().writer()
    }

    /// Opens an existing database only to read it (`status`): no migration, no write, so an
    /// analyst with read access to the files (or `SELECT` on the tables) can run it while
    /// the daemon writes.
    #[instrument(skip_all, fields(database = %location))]
    pub async fn open_read_only(location: &Location) -> Result<Store, StoreError> {
        let path = match location {
            Location::Sqlite(path) => path,
            Location::Postgres(url) => {
                let pool = Pool::Postgres(postgres::connect(url).await?);
                let pools = Pools {
                    writer_pool: pool.clone(),
                    side: pool,
                    file: None,
                    parked: Default::default(),
                };
                return Ok(Store::with(location, pools));
            }
        };
        let open_err = |source| StoreError::Open {
            path: location.clone(),
            source,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(READ_BUSY_TIMEOUT)
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let pool = Pool::Sqlite(pool);
        let pools = Pools {
            writer_pool: pool.clone(),
            side: pool,
            file: None,
            parked: Default::default(),
        };
        Ok(Store::with(location, pools))
    }

    /// `scope`'s turn to sync: on PostgreSQL its lock across every process, waited for up
    /// to `wait` (zero: only if free); `Ok(None)` while another process holds it. On SQLite
    /// there is nothing to take: the database's lock file covers every scope (see `lock`).
    pub async fn lock_scope(
        &self,
        scope: crate::domain::Scope,
        wait: Duration,
    ) -> Result<Option<ScopeTurn>, StoreError> {
        match &self.inner.location {
            Location::Sqlite(_) => Ok(Some(ScopeTurn::UnderDatabaseLock)),
            Location::Postgres(url) => {
                let lock = postgres::lock_scope(url, scope, wait).await?;
                Ok(lock.map(ScopeTurn::Locked))
            }
        }
    }

    /// Closes every connection, so that the WAL is checkpointed into the database.
    pub async fn close(&self) {
        let pools = self.pools();
        pools.side.close().await;
        pools.writer().close().await;
    }

    /// [`Store::close`], but giving up after `bound`: a connection still waiting on another
    /// process's lock must not hold the process past its shutdown promise.
    pub async fn close_within(&self, bound: Duration) {
        if tokio::time::timeout(bound, self.close()).await.is_err() {
            warn!(
                "the database connection was still busy after {} s; leaving without waiting \
                 (SQLite discards whatever was not committed)",
                bound.as_secs()
            );
        }
    }
}

/// Opens the pools of `path`, migrates, and notes which file the path named.
async fn open_pools(path: &Path) -> Result<Pools, StoreError> {
    let mut attempt = 1;
    loop {
        match open_once(path).await {
            Err(e) if attempt < OPEN_ATTEMPTS && is_contention(&e) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            result => return result,
        }
    }
}

async fn open_once(path: &Path) -> Result<Pools, StoreError> {
    let location = Location::Sqlite(path.to_owned());
    let writer = connect::writer_pool(path)
        .await
        .map_err(|source| StoreError::Open {
            path: location.clone(),
            source,
        })?;
    let migrated = sqlx::migrate!("migrations/sqlite").run(&writer).await;
    let writer = Pool::Sqlite(writer);
    if let Err(source) = migrated {
        let error = match source {
            sqlx::migrate::MigrateError::VersionMissing(version) => {
                version::too_new(&writer, &location, version).await
            }
            source => StoreError::Migrate {
                path: location,
                source,
            },
        };
        writer.close().await;
        return Err(error);
    }
    if let Err(e) = indexes::restore_missing(&writer).await {
        writer.close().await;
        return Err(e);
    }
    let file = match FileId::of(path) {
        Ok(id) => id,
        Err(source) => {
            writer.close().await;
            return Err(StoreError::Stat {
                path: path.to_owned(),
                source,
            });
        }
    };
    Ok(Pools {
        writer_pool: writer,
        side: Pool::Sqlite(connect::side_pool(path)),
        file: Some(file),
        parked: Default::default(),
    })
}

/// A scope's turn to sync, held until [`ScopeTurn::release`].
#[derive(Debug)]
pub enum ScopeTurn {
    /// SQLite: the database's lock file, taken before, covers every scope.
    UnderDatabaseLock,
    /// PostgreSQL: the scope's own advisory lock.
    Locked(ScopeLock),
}

impl ScopeTurn {
    /// Whether this turn is the scope's own lock, under which (and only under which) the
    /// scope's runs left `running` by a dead process may be recovered.
    pub fn is_scope_lock(&self) -> bool {
        matches!(self, ScopeTurn::Locked(_))
    }

    pub async fn release(self) {
        if let ScopeTurn::Locked(lock) = self {
            lock.release().await;
        }
    }
}
