//! Run bookkeeping that must not be starved: the side connection (short waits, never queued
//! behind the writer), the stopping mode in which every run-log statement takes it, and the
//! run ends that could not be written when their run ended.

use std::future::Future;
use std::time::Duration;

use chrono::NaiveDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::backend::Conn;
use super::connect::SIDE_BUSY_TIMEOUT;
use super::runs::{insert_events, write_end, LogEvent, RunEnd};
use super::{Store, StoreError};
use crate::domain::Scope;

/// The most a side statement may take, connection included: its busy timeout and a margin.
const SIDE_BOUND: Duration = Duration::from_secs(SIDE_BUSY_TIMEOUT.as_secs() + 1);

/// A run's end that could not be written (the database was locked or full when the run
/// ended). Written by the next sync before crash recovery, so the run keeps its true reason
/// instead of being labelled "the process running this sync died".
#[derive(Debug)]
pub(super) struct UnfinishedRun {
    run_id: i64,
    scope: Scope,
    end: RunEnd,
}

impl Store {
    /// From the moment `token` is cancelled (SIGINT, SIGTERM), every statement of the run
    /// log waits a bounded time on the side connection: shutdown never waits on a lock.
    pub fn stop_on(&self, token: &CancellationToken) {
        // A second call keeps the first token; both come from the same signal handler.
        let _ = self.inner.stopping.set(token.clone());
    }

    pub(super) fn stopping(&self) -> bool {
        self.inner
            .stopping
            .get()
            .is_some_and(CancellationToken::is_cancelled)
    }

    /// Runs `work` on the side connection, giving up after [`SIDE_BOUND`].
    pub(super) async fn on_side<T, Fut>(
        &self,
        work: impl FnOnce(Conn) -> Fut,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let side = self.pools().side.clone();
        let bounded = async {
            let conn = side.acquire().await?;
            work(conn).await
        };
        tokio::time::timeout(SIDE_BOUND, bounded)
            .await
            .map_err(|_| StoreError::StopTimeout(SIDE_BOUND))?
    }

    /// Logs events that belong to no run's own bookkeeping (a skipped tick) on the side
    /// connection: waiting on an analyst's write lock there never holds the writer that the
    /// run in flight needs to record its pages and its end.
    pub async fn log_side_events(
        &self,
        run_id: Option<i64>,
        at: NaiveDateTime,
        events: &[LogEvent],
    ) -> Result<(), StoreError> {
        self.on_side(|mut conn| async move { insert_events(&mut conn, run_id, at, events).await })
            .await
    }

    pub(super) fn keep_unfinished(&self, run_id: i64, scope: Scope, end: RunEnd) {
        let mut kept = self
            .inner
            .unfinished
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        kept.push(UnfinishedRun { run_id, scope, end });
    }

    /// Writes the run ends kept since they could not be written; those that still cannot be
    /// are kept for the next sync. Called with the sync lock held, before crash recovery.
    pub async fn finish_unfinished_runs(&self) {
        let kept = std::mem::take(
            &mut *self
                .inner
                .unfinished
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for run in kept {
            let written = async {
                let mut conn = self.writer().acquire().await?;
                write_end(&mut conn, run.run_id, &run.scope, &run.end).await
            }
            .await;
            match written {
                Ok(()) => info!(
                    run_id = run.run_id,
                    status = run.end.status.as_str(),
                    "recorded the end of a run that could not be recorded when it ended"
                ),
                Err(e) => {
                    error!(run_id = run.run_id, error = %e, "still cannot record the end of the run");
                    self.keep_unfinished(run.run_id, run.scope, run.end);
                }
            }
        }
    }
}
