//! One sync at a time per database, across processes: an exclusive lock on
//! `<database>.lock`, held only while a sync runs, released by the OS if the process dies.
//!
//! A lock on a file is a lock on its inode, not on its name: unlinking `<database>.lock`
//! while a sync holds it would let the next sync create a new file of that name and lock it
//! too. So the lock file is verified after locking (the path must still name the locked
//! inode, else the lock is retried), and the directory that holds the database is locked
//! as well: a directory that holds the database cannot be unlinked under a running sync. The
//! price is that two databases in one directory sync one at a time.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{info, instrument};

/// How often a waiting `--once` tries the lock again.
const POLL: Duration = Duration::from_millis(100);

/// How often a lock file replaced between opening and locking it is tried again before
/// giving up (someone keeps replacing it).
const ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another sync of this database holds {path} (waited {waited_secs} s)")]
    Busy { path: PathBuf, waited_secs: u64 },
    #[error("cannot open lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lock file {path} keeps being replaced; cannot lock it")]
    Unstable { path: PathBuf },
    #[error(
        "another process syncs scope {scope} of this database (waited {waited_secs} s); \
         try again when its run has finished"
    )]
    ScopeBusy { scope: String, waited_secs: u64 },
}

/// Held while a sync runs; dropping it releases the lock.
#[derive(Debug)]
pub struct SyncLock {
    _file: File,
    _directory: File,
}

/// `<database>.lock`, beside the database so that it is in the same (writable) directory.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock if it is free, or `None` at once if another sync holds it.
pub fn try_acquire(database: &Path) -> Result<Option<SyncLock>, LockError> {
    let Some(file) = lock_named_file(&lock_path(database))? else {
        return Ok(None);
    };
    let Some(directory) = lock_directory(database)? else {
        return Ok(None);
    };
    Ok(Some(SyncLock {
        _file: file,
        _directory: directory,
    }))
}

/// Locks the file `path` names, making sure it still names it once locked.
fn lock_named_file(path: &Path) -> Result<Option<File>, LockError> {
    let io = |source| LockError::Io {
        path: path.to_owned(),
        source,
    };
    for _ in 0..ATTEMPTS {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io)?;
        if !try_lock(&file).map_err(io)? {
            return Ok(None);
        }
        if still_named(path, &file).map_err(io)? {
            return Ok(Some(file));
        }
        // Unlinked or replaced between open and lock: lock what the path names now.
    }
    Err(LockError::Unstable {
        path: path.to_owned(),
    })
}

/// Locks the directory that holds the database (see the module's documentation).
fn lock_directory(database: &Path) -> Result<Option<File>, LockError> {
    let directory = match database.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let io = |source| LockError::Io {
        path: directory.to_owned(),
        source,
    };
    let file = File::open(directory).map_err(io)?;
    Ok(try_lock(&file).map_err(io)?.then_some(file))
}

/// `true` if locked, `false` if another holds it.
fn try_lock(file: &File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Whether `path` names the same inode as `file`.
fn still_named(path: &Path, file: &File) -> std::io::Result<bool> {
    let held = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
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

    #[test]
    fn unlinking_the_lock_file_of_a_holder_does_not_free_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let first = try_acquire(&db).unwrap().expect("free lock");
        std::fs::remove_file(lock_path(&db)).unwrap();
        assert!(try_acquire(&db).unwrap().is_none());
        drop(first);
        assert!(try_acquire(&db).unwrap().is_some());
    }
}
