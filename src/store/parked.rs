//! The writer's connection, kept between the pages of a first load instead of going back to
//! the pool after each. Returning it costs a ping and taking it back a state check, each a
//! round trip to SQLite's thread during which nothing is written (~0.4 s of a million
//! groups). Whoever else needs the writer takes it out of here first (`Pools::writer`),
//! so it is never kept from them.

use std::sync::{Mutex, PoisonError};

use super::backend::Conn;

#[derive(Default)]
pub(super) struct Parked {
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    conn: Option<Conn>,
    /// Someone asked for the writer while a page held its connection: it goes back to the
    /// pool, where they wait for it, instead of being kept.
    wanted: bool,
}

impl Parked {
    /// The kept connection, if any, for the next page.
    pub(super) fn take(&self) -> Option<Conn> {
        self.lock().conn.take()
    }

    /// Keeps `conn` (outside any transaction) for the next page, unless someone asked for
    /// the writer meanwhile: then it goes back to the pool.
    pub(super) fn keep(&self, conn: Conn) {
        let mut slot = self.lock();
        if std::mem::take(&mut slot.wanted) {
            drop(slot);
            drop(conn);
        } else {
            slot.conn = Some(conn);
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
        let kept = self.lock().conn.is_some();
        f.debug_struct("Parked").field("kept", &kept).finish()
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
        parked.keep(Conn::Sqlite(pool.acquire().await.expect("the connection")));
        assert!(pool.try_acquire().is_none(), "kept, not in the pool");
        assert!(parked.take().is_some());
        assert!(parked.take().is_none(), "taken once");
    }

    #[tokio::test]
    async fn asking_for_the_writer_returns_a_kept_connection_to_the_pool() {
        let pool = one_connection_pool().await;
        let parked = Parked::default();
        parked.keep(Conn::Sqlite(pool.acquire().await.expect("the connection")));
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
        parked.keep(Conn::Sqlite(held));
        assert!(parked.take().is_none(), "not kept");
        pool.acquire().await.expect("the pool has it back");
        // Asked for once: the next page keeps its connection again.
        parked.keep(Conn::Sqlite(pool.acquire().await.expect("the connection")));
        assert!(parked.take().is_some());
    }
}
