//! One sync at a time per database, across processes: an exclusive lock on
//! `<database>.lock`, held only while a sync runs, released by the OS if the process dies.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{info, instrument};

/// How often a waiting `--once` tries the lock again.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another sync of this database holds {path} (waited {waited_secs} s)")]
    Busy { path: PathBuf, waited_secs: u64 },
    #[error("cannot open lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held while a sync runs; dropping it releases the lock.
#[derive(Debug)]
pub struct SyncLock {
    _file: File,
}

/// `<database>.lock`, beside the database so that it is in the same (writable) directory.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock if it is free, or `None` at once if another sync holds it.
pub fn try_acquire(database: &Path) -> Result<Option<SyncLock>, LockError> {
    let path = lock_path(database);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(SyncLock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(io(e)),
    }
}

/// Waits up to `wait` for the lock.
#[instrument(skip_all, fields(wait_secs = wait.as_secs()))]
pub async fn acquire(database: &Path, wait: Duration) -> Result<SyncLock, LockError> {
    let started = Instant::now();
    let mut said = false;
    loop {
        if let Some(lock) = try_acquire(database)? {
            return Ok(lock);
        }
        if started.elapsed() >= wait {
            return Err(LockError::Busy {
                path: lock_path(database),
                waited_secs: started.elapsed().as_secs(),
            });
        }
        if !said {
            info!("another sync is running; waiting for it to finish");
            said = true;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let first = try_acquire(&db).unwrap().expect("free lock");
        assert!(try_acquire(&db).unwrap().is_none());
        drop(first);
        assert!(try_acquire(&db).unwrap().is_some());
    }

    #[tokio::test]
    async fn waiting_gives_up_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let _held = try_acquire(&db).unwrap().unwrap();
        let err = acquire(&db, Duration::from_millis(250)).await.unwrap_err();
        assert!(matches!(err, LockError::Busy { .. }), "{err}");
    }
}
