//! SIGINT and SIGTERM become one cancellation token that every sync watches.

use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Cancels the token on the first SIGINT or SIGTERM. The handlers are installed before this
/// returns (not later, in the spawned task), so a signal that arrives right after, say just
/// after `READY=1`, already stops the process cleanly instead of killing it.
pub fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    let signals = Signals::install();
    tokio::spawn(async move {
        signals.first().await;
        warn!("signal received: stopping");
        trigger.cancel();
    });
    token
}

#[cfg(unix)]
struct Signals {
    term: std::io::Result<tokio::signal::unix::Signal>,
    int: std::io::Result<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            term: signal(SignalKind::terminate()),
            int: signal(SignalKind::interrupt()),
        }
    }

    async fn first(mut self) {
        async fn next(s: &mut std::io::Result<tokio::signal::unix::Signal>) {
            match s {
                Ok(s) => {
                    s.recv().await;
                }
                // Not installed: the signal keeps its default action.
                Err(_) => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = next(&mut self.term) => {}
            _ = next(&mut self.int) => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Signals {
        Signals
    }

    async fn first(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
