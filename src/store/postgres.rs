//! PostgreSQL: the pool, its migrations, and the per-scope advisory locks that let several
//! daemons on several machines share one database without running one scope twice at once.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};
use tracing::{debug, info, instrument, warn};

use super::backend::Pool;
use super::location::PostgresUrl;
use super::{Location, StoreError};
use crate::domain::Scope;

/// Connections per process: the run's writer, the side bookkeeping, `/metrics` and a
/// spare. The scope locks hold their own connections, outside the pool.
const POOL_SIZE: u32 = 4;

/// How often a waiting `--once` asks for a scope's lock again.
const LOCK_POLL: Duration = Duration::from_millis(200);

fn open_error(url: &PostgresUrl, source: sqlx::Error) -> StoreError {
    StoreError::Open {
        path: Location::Postgres(url.clone()),
        source,
    }
}

/// Connects and migrates (sqlx holds an advisory lock while it migrates, so daemons
/// starting together apply each migration once).
pub(super) async fn open(url: &PostgresUrl) -> Result<Pool, StoreError> {
    let pool = connect(url).await?;
    let migrated = sqlx::migrate!("migrations/postgres").run(&pool).await;
    if let Err(source) = migrated {
        let writer = Pool::Postgres(pool.clone());
        let location = Location::Postgres(url.clone());
        let error = match source {
            sqlx::migrate::MigrateError::VersionMissing(version) => {
                super::version::too_new(&writer, &location, version).await
            }
            source => StoreError::Migrate {
                path: location,
                source,
            },
        };
        pool.close().await;
        return Err(error);
    }
    Ok(Pool::Postgres(pool))
}

/// Connects without migrating (`status`, `/metrics`).
pub(super) async fn connect(url: &PostgresUrl) -> Result<PgPool, StoreError> {
    let options = url
        .options()
        .map_err(|e| open_error(url, e))?
        .disable_statement_logging();
    // One connection first: the pool would retry a refused connection until its acquire
    // timeout and then say only "pool timed out"; this says why, at once.
    let probe = options.connect().await.map_err(|e| open_error(url, e))?;
    let _ = probe.close().await;
    PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect_with(options)
        .await
        .map_err(|e| open_error(url, e))
}

/// One scope's lock, held by a session of its own: if the process dies, the server ends the
/// session and the lock goes with it, so a dead daemon never blocks the others.
#[derive(Debug)]
pub struct ScopeLock {
    conn: PgConnection,
    key: i64,
}

impl ScopeLock {
    /// Unlocks and ends the session. Dropping the lock instead ends the session too (the
    /// server then releases the lock), only less promptly.
    pub async fn release(mut self) {
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(self.key)
            .execute(&mut self.conn)
            .await;
        if let Err(e) = unlocked {
            warn!("could not release the scope's lock ({e}); closing its session releases it");
        }
        if let Err(e) = self.conn.close().await {
            debug!("closing the scope lock's session: {e}");
        }
    }
}

/// The advisory lock key of a scope: the first 8 bytes of a SHA-256 of a fixed prefix and the
/// scope's key, so it is the same in every version and every process, and unlikely to meet
/// another application's keys.
pub(super) fn lock_key(scope: Scope) -> i64 {
    let digest = Sha256::digest(format!("xtrakit-sync scope {}", scope.key()));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Takes the scope's lock: at once or `None` (`wait` zero), or waiting up to `wait`.
#[instrument(skip_all, fields(scope = %scope))]
pub(super) async fn lock_scope(
    url: &PostgresUrl,
    scope: Scope,
    wait: Duration,
) -> Result<Option<ScopeLock>, StoreError> {
    let options = url.options().map_err(|e| open_error(url, e))?;
    let mut conn = options
        .disable_statement_logging()
        .connect()
        .await
        .map_err(|e| open_error(url, e))?;
    let key = lock_key(scope);
    let deadline = Instant::now() + wait;
    let mut said = false;
    loop {
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut conn)
            .await?;
        if taken {
            return Ok(Some(ScopeLock { conn, key }));
        }
        if Instant::now() + LOCK_POLL > deadline {
            let _ = conn.close().await;
            return Ok(None);
        }
        if !said {
            info!("another process is syncing scope {scope}; waiting for it to finish");
            said = true;
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_differ_by_scope() {
        assert_eq!(lock_key(Scope::ALL), lock_key(Scope::ALL));
        assert_ne!(lock_key(Scope::ALL), lock_key(Scope::business(1)));
        assert_ne!(lock_key(Scope::business(1)), lock_key(Scope::business(2)));
    }
}
