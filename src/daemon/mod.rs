//! The daemon: cron ticks that each sync every scope, skipping a tick while a sync is still
//! running; signals that stop it cleanly; systemd readiness. A failed run is logged and the
//! schedule goes on: nothing a run does can stop the daemon.

mod clock;
mod notify;
mod prune;
mod reload;
mod signals;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, instrument, warn};

pub use signals::cancel_on_signal;

use crate::config::{CronSchedule, Settings};
use crate::domain::{Scope, Trigger};
use crate::outcome::Exit;
use crate::sync::{LockPolicy, SyncRequest, Syncer};

/// `busy_since` while no tick syncs.
const IDLE: i64 = i64::MIN;

/// Ticks this close together fired at the same moment (both schedules matching one second).
const SAME_MOMENT_SECS: u64 = 1;

/// How long shutdown waits for the scheduler to stop.
const SCHEDULER_GRACE: Duration = Duration::from_secs(1);
/// How long shutdown waits for the run in flight to record itself as interrupted (its
/// statements are bounded by the store's side connection, well within this).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(6);
/// How long closing the database may take before the process leaves without it.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What every tick shares.
struct Daemon {
    syncer: Syncer,
    scopes: Vec<Scope>,
    /// Held by the tick that is syncing; a tick that cannot take it is skipped.
    busy: Mutex<()>,
    /// When the tick that is syncing fired (Unix seconds), or [`IDLE`]. Claimed by one
    /// compare-and-swap, so a tick that loses sees the winner's time, never a stale one.
    busy_since: AtomicI64,
    /// When a full sync is due is derived from the run log and this schedule, never kept
    /// in memory: a restart, a skipped or a failed full tick leaves it due.
    full_schedule: Option<CronSchedule>,
    /// Old rows of the run log, pruned after a tick.
    retention: prune::Retention,
    cancel: CancellationToken,
    /// Where the key came from and how the client is built, for SIGHUP.
    settings: Settings,
}

/// Runs until SIGTERM or SIGINT with the syncer `startup` built; returns how it ended.
pub async fn run(settings: &Settings, syncer: Syncer) -> Exit {
    let daemon = Arc::new(Daemon {
        syncer,
        scopes: Scope::from_codes(&settings.business_codes),
        busy: Mutex::new(()),
        busy_since: AtomicI64::new(IDLE),
        full_schedule: settings.full_sync_schedule.clone(),
        retention: prune::Retention::new(settings),
        cancel: cancel_on_signal(),
        settings: settings.clone(),
    });
    reload::listen(&daemon);
    daemon.syncer.store.stop_on(&daemon.cancel);
    if let Err(e) = crate::metrics::start(settings, daemon.cancel.clone()).await {
        error!("{e}");
        return Exit::Config;
    }
    let scheduler = match schedule(&daemon, settings).await {
        Ok(s) => s,
        Err(e) => {
            error!("cannot start the scheduler: {e}");
            return Exit::Config;
        }
    };
    notify::ready();
    info!(schedule = %settings.schedule, full_sync_schedule = %settings.full_sync_schedule.as_ref().map_or_else(|| "off".to_owned(), |s| s.to_string()), "daemon started");
    if settings.run_on_start {
        tokio::spawn(tick(daemon.clone(), Trigger::Startup));
    }
    let scheduler = follow_the_clock(&daemon, settings, scheduler).await;
    notify::stopping();
    let Some(mut scheduler) = scheduler else {
        // Exit 1: systemd restarts the daemon, which schedules from the new time.
        daemon.syncer.store.close_within(CLOSE_GRACE).await;
        return Exit::SyncFailed;
    };
    stop(&daemon, &mut scheduler).await;
    info!("daemon stopped");
    Exit::Ok
}

/// Waits until the daemon is stopped; when the wall clock steps, the schedule is made again
/// so that its next tick is computed from the new time. `None` if it cannot be made again.
async fn follow_the_clock(
    daemon: &Arc<Daemon>,
    settings: &Settings,
    mut scheduler: JobScheduler,
) -> Option<JobScheduler> {
    let mut steps = clock::watch(daemon.cancel.clone());
    loop {
        tokio::select! {
            _ = daemon.cancel.cancelled() => return Some(scheduler),
            Some(moved) = steps.recv() => {
                warn!(
                    "the wall clock stepped {}; the schedule's next tick is computed again \
                     from the new time",
                    clock::describe(moved)
                );
                if let Ok(Err(e)) = tokio::time::timeout(SCHEDULER_GRACE, scheduler.shutdown()).await {
                    warn!("scheduler shutdown: {e}");
                }
                scheduler = match schedule(daemon, settings).await {
                    Ok(s) => s,
                    Err(e) => {
                        error!("cannot start the scheduler again: {e}");
                        daemon.cancel.cancel();
                        return None;
                    }
                };
            }
        }
    }
}

/// Stops within the 10 s the README promises whatever the database does: every wait here is bounded, and
/// the run's own closing statements are bounded by the store once the token is cancelled.
async fn stop(daemon: &Daemon, scheduler: &mut JobScheduler) {
    match tokio::time::timeout(SCHEDULER_GRACE, scheduler.shutdown()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!("scheduler shutdown: {e}"),
        Err(_) => warn!("the scheduler did not stop in time; leaving it"),
    }
    // The cancelled run marks itself interrupted and releases `busy`.
    if tokio::time::timeout(SHUTDOWN_GRACE, daemon.busy.lock())
        .await
        .is_err()
    {
        warn!(
            "the run in flight did not stop in time; the next sync's crash recovery marks it \
             interrupted"
        );
    }
    daemon.syncer.store.close_within(CLOSE_GRACE).await;
}

async fn schedule(
    daemon: &Arc<Daemon>,
    settings: &Settings,
) -> Result<JobScheduler, tokio_cron_scheduler::JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    scheduler.add(job(daemon, &settings.schedule)?).await?;
    if let Some(full) = &settings.full_sync_schedule {
        scheduler.add(job(daemon, full)?).await?;
    }
    scheduler.start().await?;
    Ok(scheduler)
}

/// Both schedules tick the same way: whether the run is full is decided per scope from the
/// run log, so the full schedule's job only makes sure a tick happens when it fires.
fn job(
    daemon: &Arc<Daemon>,
    schedule: &CronSchedule,
) -> Result<Job, tokio_cron_scheduler::JobSchedulerError> {
    let daemon = daemon.clone();
    Job::new_async(schedule.six_field.as_str(), move |_id, _scheduler| {
        Box::pin(tick(daemon.clone(), Trigger::Schedule))
    })
}

/// One tick: every scope, unless a sync is still running here or in another process.
/// Two ticks of the same second (the full and the incremental schedule firing together) are
/// one tick: the second is dropped without a `skipped_tick`.
#[instrument(skip_all, fields(trigger = %trigger.as_str()))]
async fn tick(daemon: Arc<Daemon>, trigger: Trigger) {
    if daemon.cancel.is_cancelled() {
        return;
    }
    let now = Utc::now();
    let second = now.timestamp();
    let claimed =
        daemon
            .busy_since
            .compare_exchange(IDLE, second, Ordering::SeqCst, Ordering::SeqCst);
    if let Err(running_since) = claimed {
        if second.abs_diff(running_since) > SAME_MOMENT_SECS {
            skipped(&daemon, "the previous sync is still running").await;
        }
        return;
    }
    let _idle_again = IdleOnDrop(&daemon.busy_since);
    // Shutdown waits on `busy` for the run in flight to record itself.
    let _busy = daemon.busy.lock().await;
    if daemon.cancel.is_cancelled() {
        return;
    }
    let full_due_since = daemon
        .full_schedule
        .as_ref()
        .and_then(|s| s.previous_fire(now));
    let request = SyncRequest {
        trigger,
        force_full: false,
        full_due_since,
        allow_mass_delete: false,
    };
    let syncer = &daemon.syncer;
    match syncer
        .sync_all(&daemon.scopes, request, LockPolicy::Skip, &daemon.cancel)
        .await
    {
        Ok(crate::sync::SyncAllOutcome::Skipped) => {
            skipped(&daemon, "another process is syncing this database").await;
        }
        Ok(crate::sync::SyncAllOutcome::Ran(_)) => {
            daemon.retention.after_tick(&syncer.store).await;
        }
        Err(e) => error!("sync could not run: {e}"),
    }
}

/// Marks the daemon idle again when the tick that claimed it ends, however it ends.
struct IdleOnDrop<'a>(&'a AtomicI64);

impl Drop for IdleOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(IDLE, Ordering::SeqCst);
    }
}

/// See [`Syncer::log_skipped`](crate::sync::Syncer::log_skipped).
async fn skipped(daemon: &Daemon, why: &str) {
    daemon.syncer.log_skipped(why, None).await;
}
