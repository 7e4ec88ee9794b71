//! The daemon: scheduled ticks, signals and systemd notification. (Scheduler to come.)

use tokio_util::sync::CancellationToken;

/// Cancels the token on the first SIGINT or SIGTERM.
pub fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::warn!("signal received: stopping");
        trigger.cancel();
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The daemon. Until the scheduler lands, it refuses clearly rather than pretending.
pub async fn run(settings: &crate::config::Settings) -> u8 {
    let _ = settings;
    eprintln!("xtrakit-sync: the daemon mode is not available yet; use --once");
    crate::outcome::EXIT_CONFIG
}
