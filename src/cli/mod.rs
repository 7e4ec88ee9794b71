//! The command line and the commands it dispatches to. Every command resolves the
//! configuration first; a configuration error exits 2 before anything is touched.

pub mod args;
mod changes;
mod check;
mod flags;
pub(crate) mod health;
mod output;
mod probe;
mod state;
mod status;

use self::output::outln;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use reqwest::Url;

use crate::api::ApiError;
use crate::config::Settings;
use crate::daemon;
use crate::domain::{Scope, Trigger};
use crate::outcome::{AppError, Exit};
use crate::startup::{build_syncer, open_store, StartupError};
use crate::sync::{LockPolicy, RunReport, SyncAllOutcome, SyncRequest, Syncer};
use crate::telemetry::{self, progress};
use args::{Action, Cli};

/// Runs the command the user asked for and returns how the process ends; an error that
/// stopped the command before its work began is left to `main` to print.
pub async fn run(cli: Cli) -> Result<Exit, AppError> {
    let settings = Settings::load(&cli.config_args())?;
    telemetry::init(settings.log_format);
    let action = cli.action();
    if let Action::CheckConfig { probe } = action {
        return Ok(check::run(&settings, probe).await?);
    }
    for warning in &settings.warnings {
        warn!("{warning}");
    }
    let exit = match action {
        Action::CheckConfig { .. } => Exit::Ok,
        Action::Migrate => migrate(&settings).await?,
        Action::Status {
            json,
            check,
            max_age,
        } => {
            status::show(
                &settings,
                status::Ask {
                    json,
                    check,
                    max_age,
                },
            )
            .await
        }
        Action::Once {
            full,
            allow_mass_delete,
        } => once(&settings, full, allow_mass_delete).await?,
        Action::Daemon => daemon::run(&settings, build_syncer(&settings).await?).await,
        Action::State { json, change } => state::run(&settings, json, change).await,
        Action::Changes { run, json } => changes::show(&settings, run, json).await,
    };
    Ok(exit)
}

/// Creates or upgrades the database, and says which it was.
async fn migrate(settings: &Settings) -> Result<Exit, StartupError> {
    let existed = settings
        .database
        .sqlite_path()
        .is_none_or(|path| path.exists());
    let store = open_store(&settings.database).await?;
    let done = if existed { "is up to date" } else { "created" };
    outln!("database {} {done}", settings.database);
    store.close().await;
    Ok(Exit::Ok)
}

/// `--once`: one sync of every scope; Ctrl-C or SIGTERM marks the run `interrupted`.
async fn once(
    settings: &Settings,
    full: bool,
    allow_mass_delete: bool,
) -> Result<Exit, StartupError> {
    let mut syncer = build_syncer(settings).await?;
    let line = progress::wanted(settings.log_format).then(|| {
        let (line, sender) = progress::ProgressLine::start();
        syncer.progress = Some(sender);
        line
    });
    let cancel = daemon::cancel_on_signal();
    syncer.store.stop_on(&cancel);
    let request = SyncRequest {
        trigger: Trigger::Once,
        force_full: full,
        full_due_since: None,
        allow_mass_delete,
    };
    let scopes = Scope::from_codes(&settings.business_codes);
    let sync = run_sync(
        &syncer,
        &scopes,
        request,
        LockPolicy::Wait(settings.lock_wait),
        &cancel,
    );
    let code = tokio::select! {
        code = sync => code,
        () = stop_deadline(&cancel) => {
            warn!(
                "the interrupted sync did not stop in time; the next sync's crash recovery \
                 marks its run interrupted"
            );
            Exit::Interrupted
        }
    };
    if let Some(line) = line {
        line.finish();
    }
    syncer.store.close_within(CLOSE_GRACE).await;
    Ok(code)
}

/// How long an interrupted `--once` waits for its run to record the interruption: its
/// statements are bounded once the token is cancelled; this bounds anything else (a run
/// that was opening, waiting on another writer with the full busy timeout).
const STOP_GRACE: Duration = Duration::from_secs(7);
/// How long closing the database may take before the process leaves without it.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Completes [`STOP_GRACE`] after the token is cancelled; never before.
async fn stop_deadline(cancel: &CancellationToken) {
    cancel.cancelled().await;
    tokio::time::sleep(STOP_GRACE).await;
}

/// One sync of every scope, reduced to an exit code.
async fn run_sync(
    syncer: &Syncer,
    scopes: &[Scope],
    request: SyncRequest,
    policy: LockPolicy,
    cancel: &CancellationToken,
) -> Exit {
    match syncer.sync_all(scopes, request, policy, cancel).await {
        Ok(SyncAllOutcome::Ran(reports)) => Exit::gravest(reports.iter().map(RunReport::exit)),
        Ok(SyncAllOutcome::Skipped) => Exit::Ok,
        Err(e) => {
            error!("{e}");
            crate::outcome::judge(&Err(e)).exit
        }
    }
}

/// A failed request as one line: the error, the URL, and for a 404 a hint at `base_url`.
pub(crate) fn failure_line(error: &ApiError, url: &Url) -> String {
    crate::api::failure_text(error, error.http_status(), Some(url.as_str()))
}
