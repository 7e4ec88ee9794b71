//! The writer's connection between the pages of a first load: kept instead of going back to
//! the pool after each (returning it costs a ping and taking it back a state check, each a
//! round trip to SQLite's thread during which nothing is written, ~0.4 s of a million
//! groups), or still finishing the last page's transaction.
//!
//! A page's write returns once its groups are in; its history rows and `COMMIT` run on while
//! the next page is planned and bound, which SQLite's thread otherwise waits for (~0.5 ms a
//! page). That page's write, and the end of the listing, first wait for the commit and fail
//! with its error: a failed commit rolled the whole page back, counters included, and the run
//! fails before its watermark can move past it. Whoever else needs the writer takes it out of
//! here first (`Pools::writer`), so it is never kept from them.

use std::sync::{Mutex, PoisonError};

use tokio::task::JoinHandle;

use super::backend::Conn;
use super::StoreError;

#[derive(Default)]
pub(super) struct Parked {
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    conn: Option<Conn>,
    /// The task finishing the last page's transaction, and the run it belongs to.
    finishing: Option<(i64, JoinHandle<()>)>,
    /// Runs whose page failed after its write had returned, with the error; reported once,
    /// to the run's next page or the end of its listing.
    failed: Vec<(i64, StoreError)>,
    /// Someone asked for the writer while a page held its connection: it goes back to the
    /// pool, where they wait for it, instead of being kept.
    wanted: bool,
}

/// How a page's transaction task ended.
pub(super) enum Ended {
    /// Committed, on this connection, outside any transaction now.
    Committed(Conn),
    /// Failed, and the page's write has already returned the error.
    Reported,
    /// Failed after the page's write returned: the next page's write, or the end of the
    /// listing, returns the error.
    Failed(StoreError),
}

impl Parked {
    /// The kept connection, if any, for the next page.
    pub(super) fn take(&self) -> Option<Conn> {
        self.lock().conn.take()
    }

    /// Notes the task finishing `run_id`'s last page (see [`Parked::settle`]).
    pub(super) fn finishing(&self, run_id: i64, task: JoinHandle<()>) {
        self.lock().finishing = Some((run_id, task));
    }

    /// What a page's transaction task does last: keeps its connection for the next page
    /// unless someone asked for the writer meanwhile (then it goes back to the pool), or
    /// notes its failure for `run_id`.
    pub(super) fn end(&self, run_id: i64, ended: Ended) {
        let mut slot = self.lock();
        match ended {
            Ended::Committed(conn) if std::mem::take(&mut slot.wanted) => {
                drop(slot);
                drop(conn);
            }
            Ended::Committed(conn) => slot.conn = Some(conn),
            Ended::Reported => {}
            Ended::Failed(e) => slot.failed.push((run_id, e)),
        }
    }

    /// Waits for the last page's transaction to end, whichever run it belongs to (it holds
    /// the writer); then `run_id`'s failure, if one of its pages failed after its write
    /// returned.
    pub(super) async fn settle(&self, run_id: i64) -> Result<(), StoreError> {
        let finishing = self.lock().finishing.take();
        if let Some((of_run, task)) = finishing {
            if let Err(e) = task.await {
                let error = StoreError::Query(sqlx::Error::Protocol(format!(
                    "a page's transaction stopped unexpectedly: {e}"
                )));
                self.lock().failed.push((of_run, error));
            }
        }
        let mut slot = self.lock();
        match slot.failed.iter().position(|(of_run, _)| *of_run == run_id) {
            Some(i) => Err(slot.failed.swap_remove(i).1),
            None => Ok(()),
        }
    }

    /// Returns the kept connection to the pool, and makes a page holding it now return it
    /// too, so that the caller's `acquire` gets it.
    pub(super) fn release(&self) {
        let conn = {
            let mut slot = self.lock();
            slot.wanted = true;
            slot.conn.take()
        };
        drop(conn);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        // A panic while the lock was held left at worst a connection in the slot.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Parked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slot = self.lock();
        f.debug_struct("Parked")
            .field("kept", &slot.conn.is_some())
            .field("finishing", &slot.finishing.is_some())
            .field("failed", &slot.failed.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    async fn one_connection_pool() -> sqlx::SqlitePool {
        SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect("sqlite::memory:")
            .await
            .expect("an in-memory database")
    }

    #[tokio::test]
    async fn a_kept_connection_is_taken_by_the_next_page() {
        let pool = one_connection_pool().await;
        let parked = Parked::default();
        parked.end(
            1,
            Ended::Committed(Conn::Sqlite(pool.acquire().await.expect("the connection"))),
        );
        assert!(pool.try_acquire().is_none(), "kept, not in the pool");
        assert!(parked.take().is_some());
        assert!(parked.take().is_none(), "taken once");
    }

    #[tokio::test]
    async fn asking_for_the_writer_returns_a_kept_connection_to_the_pool() {
        let pool = one_connection_pool().await;
        let parked = Parked::default();
        parked.end(
            1,
            Ended::Committed(Conn::Sqlite(pool.acquire().await.expect("the connection"))),
        );
        parked.release();
        assert!(parked.take().is_none());
        pool.acquire().await.expect("the pool has it back");
    }

    #[tokio::test]
    async fn a_page_holding_the_connection_when_it_is_asked_for_returns_it() {
        let pool = one_connection_pool().await;
        let parked = Parked::default();
        let held = pool.acquire().await.expect("the connection");
        parked.release();
        parked.end(1, Ended::Committed(Conn::Sqlite(held)));
        assert!(parked.take().is_none(), "not kept");
        pool.acquire().await.expect("the pool has it back");
        // Asked for once: the next page keeps its connection again.
        parked.end(
            1,
            Ended::Committed(Conn::Sqlite(pool.acquire().await.expect("the connection"))),
        );
        assert!(parked.take().is_some());
    }

    fn disk_full() -> StoreError {
        StoreError::Query(sqlx::Error::Protocol("database or disk is full".into()))
    }

    #[tokio::test]
    async fn a_commit_that_failed_after_its_write_returned_fails_its_run_once() {
        let parked = std::sync::Arc::new(Parked::default());
        let ending = std::sync::Arc::clone(&parked);
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            ending.end(7, Ended::Failed(disk_full()));
        });
        parked.finishing(7, task);
        // Another run waits for the task (it holds the writer) but does not take the error.
        parked.settle(8).await.expect("not run 8's failure");
        let error = parked.settle(7).await.expect_err("run 7's page failed");
        assert!(error.to_string().contains("disk is full"), "{error}");
        parked.settle(7).await.expect("reported once");
    }

    #[tokio::test]
    async fn settling_waits_for_the_last_page_to_commit_and_keeps_its_connection() {
        let pool = one_connection_pool().await;
        let parked = std::sync::Arc::new(Parked::default());
        let ending = std::sync::Arc::clone(&parked);
        let held = pool.acquire().await.expect("the connection");
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            ending.end(3, Ended::Committed(Conn::Sqlite(held)));
        });
        parked.finishing(3, task);
        assert!(parked.take().is_none(), "still committing");
        parked.settle(3).await.expect("committed");
        assert!(parked.take().is_some(), "kept for the next page");
    }

    #[tokio::test]
    async fn a_page_task_that_panicked_fails_its_run() {
        let parked = Parked::default();
        let task = tokio::spawn(async { panic!("a bug in the page's task") });
        parked.finishing(4, task);
        let error = parked
            .settle(4)
            .await
            .expect_err("the page's outcome is unknown");
        assert!(
            error.to_string().contains("stopped unexpectedly"),
            "{error}"
        );
    }
}
