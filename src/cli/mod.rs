//! The command line and the commands it dispatches to. Every command resolves the
//! configuration first; a configuration error exits 2 before anything is touched.

pub mod args;
mod changes;
mod check;
mod database;
mod flags;
mod health;
mod probe;
pub(crate) mod progress;
mod state;
mod status;

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use reqwest::Url;

use crate::api::{ApiClient, ApiError, ClientSettings};
use crate::config::Settings;
use crate::domain::{ApiKey, Scope, Trigger};
use crate::outcome::{combined_exit_code, EXIT_CONFIG, EXIT_DATABASE, EXIT_INTERRUPTED, EXIT_OK};
use crate::store::Store;
use crate::sync::{LockPolicy, SyncAllOutcome, SyncOptions, SyncRequest, Syncer};
use crate::{daemon, telemetry};
use args::{Action, Cli};

/// Runs the command the user asked for and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    let settings = match Settings::load(&cli.config_args()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("xtrakit-sync: configuration error: {e}");
            return EXIT_CONFIG;
        }
    };
    telemetry::init(settings.log_format);
    let action = cli.action();
    if let Action::CheckConfig { probe } = action {
        return check::run(&settings, probe).await;
    }
    for warning in &settings.warnings {
        warn!("{warning}");
    }
    match action {
        Action::CheckConfig { .. } => EXIT_OK,
        Action::Migrate => migrate(&settings).await,
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
        } => once(&settings, full, allow_mass_delete).await,
        Action::Daemon => daemon::run(&settings).await,
        Action::State { json, change } => state::run(&settings, json, change).await,
        Action::Changes { run, json } => changes::show(&settings, run, json).await,
    }
}

/// Creates or upgrades the database, and says which it was.
async fn migrate(settings: &Settings) -> u8 {
    let existed = settings.database.exists();
    match open_store(&settings.database).await {
        Ok(store) => {
            let done = if existed { "is up to date" } else { "created" };
            println!("database {} {done}", settings.database.display());
            store.close().await;
            EXIT_OK
        }
        Err(code) => code,
    }
}

/// `--once`: one sync of every scope; Ctrl-C or SIGTERM marks the run `interrupted`.
async fn once(settings: &Settings, full: bool, allow_mass_delete: bool) -> u8 {
    let mut syncer = match build_syncer(settings).await {
        Ok(syncer) => syncer,
        Err(code) => return code,
    };
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
            EXIT_INTERRUPTED
        }
    };
    if let Some(line) = line {
        line.finish();
    }
    syncer.store.close_within(CLOSE_GRACE).await;
    code
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
pub async fn run_sync(
    syncer: &Syncer,
    scopes: &[Scope],
    request: SyncRequest,
    policy: LockPolicy,
    cancel: &CancellationToken,
) -> u8 {
    match syncer.sync_all(scopes, request, policy, cancel).await {
        Ok(SyncAllOutcome::Ran(reports)) => combined_exit_code(reports.iter().map(|r| r.exit_code)),
        Ok(SyncAllOutcome::Skipped) => EXIT_OK,
        Err(e) => {
            error!("{e}");
            crate::outcome::judge(&Err(e)).exit_code
        }
    }
}

/// The store and the client a sync needs, or the exit code of what is missing.
pub async fn build_syncer(settings: &Settings) -> Result<Syncer, u8> {
    let key = settings.require_key().map_err(|e| {
        eprintln!("xtrakit-sync: configuration error: {e}");
        EXIT_CONFIG
    })?;
    let client =
        ApiClient::new(client_settings(settings, key, settings.max_retries)).map_err(|e| {
            eprintln!("xtrakit-sync: configuration error: {e}");
            EXIT_CONFIG
        })?;
    let store = open_store(&settings.database).await?;
    Ok(Syncer {
        store,
        client,
        options: SyncOptions {
            lookback_days: settings.lookback_days,
            max_pages: settings.max_pages,
            history: settings.history,
            delete_guard_fraction: settings.delete_guard_fraction,
        },
        database: settings.database.clone(),
        progress: None,
    })
}

/// The HTTP client's settings; the probe asks for no retries.
fn client_settings(settings: &Settings, key: &ApiKey, max_retries: u32) -> ClientSettings {
    ClientSettings {
        base_url: settings.base_url.clone(),
        key: key.clone(),
        request_timeout: settings.request_timeout,
        max_retries,
        max_response_bytes: settings.max_response_bytes,
        retry_base_delay: settings.retry_base_delay,
    }
}

/// A failed request as one line: the error, the URL, and for a 404 a hint at `base_url`.
pub(crate) fn failure_line(error: &ApiError, url: &Url) -> String {
    crate::api::failure_text(error, error.http_status(), Some(url.as_str()))
}

/// Opens the database, or says once, in words, why it cannot be (exit 4). A path problem
/// the file system shows is reported before SQLite is asked.
async fn open_store(path: &Path) -> Result<Store, u8> {
    if let Some(problem) = database::diagnose(path, true) {
        eprintln!("xtrakit-sync: {problem}");
        return Err(EXIT_DATABASE);
    }
    Store::open(path).await.map_err(|e| {
        eprintln!("xtrakit-sync: {}", database::explain(path, &e, true));
        EXIT_DATABASE
    })
}
