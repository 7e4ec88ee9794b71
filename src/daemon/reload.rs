//! SIGHUP re-reads the API key (a rotated key file or credential) and rebuilds the HTTP client
//! between runs; SIGUSR1 and SIGUSR2, which would otherwise end the process without a word,
//! are logged and ignored.

use std::sync::Arc;

use tracing::{error, info, warn};

use super::Daemon;
use crate::api::ApiClient;
use crate::config::reread_key;

/// Listens for SIGHUP, SIGUSR1 and SIGUSR2 until the daemon stops. The handlers are installed
/// before this returns, so such a signal never ends the process once `READY=1` is sent.
#[cfg(unix)]
pub(super) fn listen(daemon: &Arc<Daemon>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hup), Ok(mut usr1), Ok(mut usr2)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
    ) else {
        warn!("cannot listen for SIGHUP: a rotated key needs a restart to be used");
        return;
    };
    let daemon = Arc::clone(daemon);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = daemon.cancel.cancelled() => return,
                _ = hup.recv() => reload_key(&daemon).await,
                _ = usr1.recv() => warn!("SIGUSR1 received and ignored (SIGHUP re-reads the key)"),
                _ = usr2.recv() => warn!("SIGUSR2 received and ignored (SIGHUP re-reads the key)"),
            }
        }
    });
}

#[cfg(not(unix))]
pub(super) fn listen(_daemon: &Arc<Daemon>) {}

/// Reads the key again from where it came from and, if that works, puts a client with it in
/// place once no run is in flight; otherwise the current key stays in use.
async fn reload_key(daemon: &Daemon) {
    let Some((_, source)) = &daemon.settings.api_key else {
        return;
    };
    info!("SIGHUP received: reading the API key again from {source}");
    let key = match reread_key(source) {
        Ok(Some(key)) => key,
        Ok(None) => {
            warn!(
                "the API key comes from XTRAKIT_API_KEY, which a running process cannot see \
                 change; restart the service to use another key"
            );
            return;
        }
        Err(e) => {
            error!("cannot read the API key from {source} ({e}); the current key stays in use");
            return;
        }
    };
    let settings =
        crate::startup::client_settings(&daemon.settings, &key, daemon.settings.max_retries);
    let client = match ApiClient::new(settings) {
        Ok(client) => client,
        Err(e) => {
            error!("cannot use the key read from {source} ({e}); the current key stays in use");
            return;
        }
    };
    // Between runs: a run in flight finishes with the key it started with.
    let _busy = daemon.busy.lock().await;
    daemon.syncer.client.replace(client);
    info!(
        key = %key.fingerprint(),
        "API key read again from {source}; the next run uses it"
    );
}
