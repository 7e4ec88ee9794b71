//! The database file behind the path: a file deleted or replaced while the daemon runs is
//! noticed at the next sync, which reopens (and migrates) what the path names now instead of
//! reporting success into an unlinked file.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info, warn};

use super::connect::FileId;
use super::{open_pools, Store, StoreError};

/// How long closing the old file's connections may take before they are left behind.
const CLOSE_OLD: Duration = Duration::from_secs(5);

impl Store {
    /// Whether the path still names the file the store has open. Unknown (the path cannot be
    /// looked at for another reason) counts as yes: only a proven change is reported.
    pub fn is_current(&self) -> bool {
        let Some(path) = self.location().sqlite_path() else {
            return true;
        };
        match (self.pools().file, FileId::of(path)) {
            (Some(opened), Ok(now)) => opened == now,
            (Some(_), Err(e)) => e.kind() != ErrorKind::NotFound,
            (None, _) => true,
        }
    }

    /// Makes sure the store writes into the file the path names: if it was deleted or
    /// replaced, closes the old connections and opens, creating and migrating if needed, the
    /// file there now. Call with the sync lock held and no run in flight.
    pub async fn ensure_current(&self) -> Result<(), StoreError> {
        let (Some(opened), Some(path)) = (self.pools().file, self.location().sqlite_path()) else {
            return Ok(());
        };
        let deleted = match FileId::of(path) {
            Ok(now) if now == opened => return Ok(()),
            Ok(_) => false,
            Err(e) if e.kind() == ErrorKind::NotFound => true,
            Err(source) => {
                return Err(StoreError::Stat {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let what = if deleted { "deleted" } else { "replaced" };
        error!(
            "the database file {} was {what} while the daemon ran; reopening it (what was \
             written since went to the old file and is not in the one there now)",
            path.display()
        );
        self.reopen(path, deleted).await?;
        info!(path = %path.display(), "database reopened and migrated");
        Ok(())
    }

    async fn reopen(&self, path: &Path, deleted: bool) -> Result<(), StoreError> {
        let old = self.pools();
        if tokio::time::timeout(CLOSE_OLD, async {
            old.side.close().await;
            old.writer().close().await;
        })
        .await
        .is_err()
        {
            error!("the old database file's connection did not close; leaving it behind");
        }
        if deleted || !in_wal_mode(path) {
            remove_orphaned_wal(path);
        } else {
            warn!(
                "the new database file is in WAL mode: its -wal and -shm are kept as its own \
                 (if they were the old file's, replace the database only with the daemon stopped)"
            );
        }
        let pools = open_pools(path).await?;
        let mut open = self.inner.open.write().unwrap_or_else(|e| e.into_inner());
        *open = Arc::new(pools);
        Ok(())
    }
}

/// Whether the file's header says WAL mode (bytes 18 and 19 are 2): only such a database can
/// own the `-wal` beside it. A file too short to have a header (or unreadable) does not.
fn in_wal_mode(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| header[18] == 2 && header[19] == 2)
}

/// The `-wal` and `-shm` beside a deleted database, or beside a replacement that is not in
/// WAL mode, are the old file's: a database opened under that name must not start from them
/// (SQLite would replay the old file's pages into it).
fn remove_orphaned_wal(path: &Path) {
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {
                info!(file = %Path::new(&name).display(), "removed the deleted database's leftover")
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                error!(file = %Path::new(&name).display(), error = %e, "cannot remove the deleted database's leftover")
            }
        }
    }
}
