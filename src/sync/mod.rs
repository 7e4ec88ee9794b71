//! One sync run of one scope, and a sync of every scope under the lock. `--once` and the
//! daemon's ticks both come through [`Syncer::sync_all`]: there is one code path.

mod ahead;
mod events;
mod listing;
mod pace;
mod progress;
mod quiet;
mod reconcile;
mod run;

use std::sync::Arc;

use chrono::NaiveDateTime;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{error, info, instrument, warn};

use reqwest::Url;

use crate::api::ApiClient;
use crate::domain::{now_utc, Mode, RunStatus, Scope, Trigger, Watermark};
use crate::lock::{self, LockError, SyncLock};
use crate::outcome::{judge, Exit, SyncError};
use crate::store::{Level, LogEvent, RunEnd, RunStart, ScopeTurn, Store, StoreError};

pub use progress::{Progress, ProgressSender};
pub use run::RunTally;

/// The settings a run needs beyond the client and the store.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    pub lookback_days: u32,
    pub max_pages: u32,
    /// Pages of a page-numbered listing fetched at once (1 to 16).
    pub max_concurrent_requests: u32,
    pub history: bool,
    pub delete_guard_fraction: f64,
}

/// What was asked for: who triggered the sync, and whether it must be a full one.
#[derive(Clone, Copy, Debug)]
pub struct SyncRequest {
    pub trigger: Trigger,
    pub force_full: bool,
    /// When the full-sync schedule last fired: a scope with no successful full run since
    /// then gets a full run. Derived from the run log, so a restart, a failed or a skipped
    /// full tick leaves it due.
    pub full_due_since: Option<NaiveDateTime>,
    pub allow_mass_delete: bool,
}

/// What to do when another sync holds the lock.
#[derive(Clone, Copy, Debug)]
pub enum LockPolicy {
    /// `--once`: wait up to this long, then fail (exit 4).
    Wait(Duration),
    /// A scheduled tick: skip it, the next tick will come.
    Skip,
}

/// How one scope's run ended.
#[derive(Debug)]
pub struct RunReport {
    pub scope: Scope,
    pub run_id: Option<i64>,
    pub mode: Mode,
    pub status: RunStatus,
    /// [`Exit::code`] of the run, numeric because that is what scripts and tests compare.
    pub exit_code: u8,
    pub error: Option<String>,
    pub tally: RunTally,
}

impl RunReport {
    /// How this run alone would end the process. Every report is built from an [`Exit`],
    /// so the fallback is never taken; it fails the run rather than hiding it.
    pub fn exit(&self) -> Exit {
        Exit::try_from(self.exit_code).unwrap_or(Exit::SyncFailed)
    }
}

/// How a sync of every scope ended.
#[derive(Debug)]
pub enum SyncAllOutcome {
    Ran(Vec<RunReport>),
    /// `LockPolicy::Skip` and another sync held the lock.
    Skipped,
}

/// The HTTP client runs use: shared with the requests a listing runs ahead on other threads,
/// and replaced by the daemon between runs when the key is rotated (SIGHUP).
pub struct ClientSlot(std::sync::RwLock<Arc<ApiClient>>);

impl ClientSlot {
    /// The client for one listing or one report; a replacement affects only later calls.
    pub fn get(&self) -> Arc<ApiClient> {
        let slot = self.0.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&slot)
    }

    pub fn replace(&self, client: ApiClient) {
        let mut slot = self.0.write().unwrap_or_else(|e| e.into_inner());
        *slot = Arc::new(client);
    }
}

impl From<ApiClient> for ClientSlot {
    fn from(client: ApiClient) -> ClientSlot {
        ClientSlot(std::sync::RwLock::new(Arc::new(client)))
    }
}

pub struct Syncer {
    pub store: Store,
    pub client: ClientSlot,
    pub options: SyncOptions,
    /// Told after every written page; `None` (the daemon, the tests) reports nothing.
    pub progress: Option<ProgressSender>,
}

impl Syncer {
    /// Takes the lock, recovers runs left `running` by a dead process, then runs each scope
    /// in turn. A failed scope does not stop the others; an interruption does.
    #[instrument(skip_all, fields(trigger = %request.trigger.as_str()))]
    pub async fn sync_all(
        &self,
        scopes: &[Scope],
        request: SyncRequest,
        policy: LockPolicy,
        cancel: &CancellationToken,
    ) -> Result<SyncAllOutcome, SyncError> {
        let database_lock = match self.store.location().sqlite_path() {
            Some(path) => match self.take_lock(path, policy, cancel).await? {
                Some(lock) => Some(lock),
                None => return Ok(SyncAllOutcome::Skipped),
            },
            None => None,
        };
        self.store.ensure_current().await?;
        self.store.finish_unfinished_runs().await;
        if database_lock.is_some() {
            self.recover(None).await?;
        }
        let mut reports = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let Some(turn) = self.lock_scope(*scope, policy, cancel).await? else {
                let why = format!("another process is syncing scope {scope}");
                self.log_skipped(&why, Some(*scope)).await;
                continue;
            };
            if turn.is_scope_lock() {
                self.recover(Some(*scope)).await?;
            }
            let report = self.sync_scope(*scope, request, cancel).await;
            turn.release().await;
            let stop = report.status == RunStatus::Interrupted;
            reports.push(report);
            if stop {
                break;
            }
        }
        Ok(SyncAllOutcome::Ran(reports))
    }

    /// Marks runs left `running` by a dead process as interrupted: every scope's under the
    /// SQLite database's lock, one scope's under its own lock on PostgreSQL (a dead
    /// session's lock is free again, a live one's is not, so a live run is never touched).
    async fn recover(&self, scope: Option<Scope>) -> Result<(), SyncError> {
        let recovered = self.store.recover_interrupted(now_utc(), scope).await?;
        if recovered > 0 {
            warn!(
                recovered,
                "marked runs left by a dead process as interrupted"
            );
        }
        Ok(())
    }

    async fn take_lock(
        &self,
        database: &std::path::Path,
        policy: LockPolicy,
        cancel: &CancellationToken,
    ) -> Result<Option<SyncLock>, SyncError> {
        match policy {
            LockPolicy::Skip => Ok(lock::try_acquire(database)?),
            LockPolicy::Wait(wait) => tokio::select! {
                lock = lock::acquire(database, wait) => Ok(Some(lock?)),
                _ = cancel.cancelled() => Err(SyncError::Interrupted),
            },
        }
    }

    /// The scope's turn (see [`ScopeTurn`]); `None` when a tick finds it held by another
    /// process.
    async fn lock_scope(
        &self,
        scope: Scope,
        policy: LockPolicy,
        cancel: &CancellationToken,
    ) -> Result<Option<ScopeTurn>, SyncError> {
        let wait = match policy {
            LockPolicy::Skip => Duration::ZERO,
            LockPolicy::Wait(wait) => wait,
        };
        let started = Instant::now();
        let taken = tokio::select! {
            taken = self.store.lock_scope(scope, wait) => taken?,
            _ = cancel.cancelled() => return Err(SyncError::Interrupted),
        };
        match (taken, policy) {
            (None, LockPolicy::Wait(_)) => Err(LockError::ScopeBusy {
                scope: scope.to_string(),
                waited_secs: started.elapsed().as_secs(),
            }
            .into()),
            (taken, _) => Ok(taken),
        }
    }

    /// Logs a skipped tick (or a scope a tick skipped) in the journal and in `sync_log`, so
    /// analysts see gaps explained. It goes through the store's side connection: waiting
    /// there on an analyst's write lock never holds the writer a run in flight needs. If it
    /// cannot be written in a short while, the journal line is the record.
    pub async fn log_skipped(&self, why: &str, scope: Option<Scope>) {
        info!("tick skipped: {why}");
        let mut event = LogEvent::new(Level::Info, "skipped_tick", format!("tick skipped: {why}"));
        if let Some(scope) = scope {
            event = event.with_detail(serde_json::json!({ "scope": scope.key() }));
        }
        if let Err(e) = self.store.log_side_events(None, now_utc(), &[event]).await {
            warn!("could not log the skipped tick in the database ({e}); logged here only");
        }
    }

    /// One run of one scope. Whatever happens is recorded in `sync_runs` (and `sync_log`);
    /// the watermark moves only if every page arrived and was written.
    #[instrument(skip_all, fields(scope = %scope))]
    pub async fn sync_scope(
        &self,
        scope: Scope,
        request: SyncRequest,
        cancel: &CancellationToken,
    ) -> RunReport {
        let started = Instant::now();
        let started_at = now_utc();
        let before = match self.store.load_state(&scope).await {
            Ok(state) => state.watermark(),
            Err(e) => return self.fail_early(scope, Mode::Full, e.into()),
        };
        let mode = match self.choose_mode(scope, request, before.is_none()).await {
            Ok(mode) => mode,
            Err(e) => return self.fail_early(scope, Mode::Full, e.into()),
        };
        let start = RunStart {
            scope,
            trigger: request.trigger,
            mode,
            started_at,
            watermark_before: before,
        };
        let run_id = match self.store.start_run(&start).await {
            Ok(id) => id,
            Err(e) => return self.fail_early(scope, mode, e.into()),
        };
        let shown = before
            .map(|w| w.to_string())
            .unwrap_or_else(|| "none".into());
        info!(run_id, mode = %mode.as_str(), watermark = %shown, "sync started");
        let mut run = run::Run::new(self, run_id, &start, request);
        let result = tokio::select! {
            r = run.execute() => r,
            _ = cancel.cancelled() => Err(SyncError::Interrupted),
        };
        let outcome = run.finish(result).await;
        self.close_run(run_id, &start, outcome, started.elapsed())
            .await
    }

    /// Full when asked, when there is no watermark, or when a scheduled full sync is due.
    async fn choose_mode(
        &self,
        scope: Scope,
        request: SyncRequest,
        no_watermark: bool,
    ) -> Result<Mode, StoreError> {
        if request.force_full || no_watermark {
            return Ok(Mode::Full);
        }
        let Some(since) = request.full_due_since else {
            return Ok(Mode::Incremental);
        };
        Ok(if self.store.full_succeeded_since(scope, since).await? {
            Mode::Incremental
        } else {
            Mode::Full
        })
    }

    /// Records the end of the run: its status, the failure event, and on success the new
    /// watermark, all decided by [`judge`].
    async fn close_run(
        &self,
        run_id: i64,
        start: &RunStart,
        outcome: run::RunOutcome,
        elapsed: Duration,
    ) -> RunReport {
        let run::RunOutcome {
            result,
            tally,
            url,
            verified_in_full,
        } = outcome;
        // Success into a file the path no longer names would be a lie: the data is gone.
        let result = match result {
            Ok(()) if !self.store.is_current() => Err(StoreError::Replaced {
                path: self.store.location().clone(),
            }
            .into()),
            other => other,
        };
        let verdict = judge(&result);
        let success = verdict.status == RunStatus::Success;
        let error = result.as_ref().err();
        let after = Watermark::advance(
            start.watermark_before,
            tally.newest_updated_at,
            start.started_at,
        );
        warn_of_future_updates(tally.newest_updated_at, start.started_at);
        let end = RunEnd {
            status: verdict.status,
            finished_at: now_utc(),
            duration_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
            watermark_after: if success {
                after
            } else {
                start.watermark_before
            },
            http_status: error.and_then(events::http_status),
            error: error.map(|e| e.to_string()),
            full: verified_in_full,
        };
        if let (Some((level, event)), Some(e)) = (verdict.event, error) {
            let url = url.as_ref().map(Url::as_str);
            let logged = events::failure(level, event, e, self.client.get().key(), url);
            if let Err(log_err) = self
                .store
                .log_events(Some(run_id), end.finished_at, &[logged])
                .await
            {
                error!(error = %log_err, "could not log the failure");
            }
        }
        let mut exit_code = verdict.exit.code();
        if let Err(e) = self.store.finish_run(run_id, &start.scope, &end).await {
            if cancel_requested(&result) {
                error!(
                    error = %e,
                    "could not mark the run interrupted before stopping; the next sync's crash \
                     recovery will mark it interrupted"
                );
            } else {
                error!(error = %e, "could not record the end of the run; the next sync will");
                exit_code = judge(&Err(e.into())).exit.code();
            }
        }
        log_end(run_id, &tally, &end, url.as_ref());
        RunReport {
            scope: start.scope,
            run_id: Some(run_id),
            mode: start.mode,
            status: verdict.status,
            exit_code,
            error: end.error,
            tally,
        }
    }

    fn fail_early(&self, scope: Scope, mode: Mode, e: SyncError) -> RunReport {
        error!(error = %e, "cannot start the run");
        let message = e.to_string();
        let verdict = judge(&Err(e));
        RunReport {
            scope,
            run_id: None,
            mode,
            status: verdict.status,
            exit_code: verdict.exit.code(),
            error: Some(message),
            tally: RunTally::default(),
        }
    }
}

fn cancel_requested(result: &Result<(), SyncError>) -> bool {
    matches!(result, Err(SyncError::Interrupted))
}

/// The run's one line in the journal.
/// A failure names the URL it happened at, so a wrong `base_url` shows in the terminal.
fn log_end(run_id: i64, t: &RunTally, end: &RunEnd, url: Option<&Url>) {
    match &end.error {
        None => {
            let watermark = end
                .watermark_after
                .map(|w| w.to_string())
                .unwrap_or_else(|| "none".into());
            info!(
                run_id,
                pages = t.pages,
                received = t.received,
                inserted = t.inserted,
                updated = t.updated,
                unchanged = t.unchanged,
                rejected = t.rejected,
                deleted = t.deleted,
                restored = t.restored,
                %watermark,
                "sync succeeded"
            )
        }
        Some(e) if end.status == RunStatus::Interrupted => {
            warn!(run_id, status = %end.status.as_str(), error = %e, "sync interrupted")
        }
        Some(e) => {
            let url = url.map(Url::as_str);
            let text = crate::api::failure_text(e, end.http_status, url);
            error!(run_id, status = %end.status.as_str(), "sync did not succeed: {text}")
        }
    }
}

/// Events a run collects before it can write them.
pub(crate) type Events = Vec<LogEvent>;

/// How far past a run's start an `updated_at` may be before it says something about a clock.
const CLOCK_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// The watermark never passes the run's start whatever the API sends; an `updated_at` well
/// past it means this host's clock or the API's is wrong, which the operator should know.
fn warn_of_future_updates(newest: Option<NaiveDateTime>, run_started: NaiveDateTime) {
    if let Some(newest) = newest.filter(|t| *t > run_started + CLOCK_TOLERANCE) {
        warn!(
            "the API sent updated_at {} although this run started at {} (UTC); the watermark \
             stops at the run's start. Check this host's clock and the API's",
            crate::domain::format_timestamp(newest),
            crate::domain::format_timestamp(run_started)
        );
    }
}
