//! SIGINT and SIGTERM become one cancellation token that every sync watches; a second one
//! ends the process at once.

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::outcome::Exit;

/// Cancels the token on the first SIGINT or SIGTERM. The handlers are installed before this
/// returns (not later, in the spawned task), so a signal that arrives right after, say just
/// after `READY=1`, already stops the process cleanly instead of killing it. A second signal
/// means whoever sent it will not wait for the clean stop: the process exits at once with
/// 130, leaving the run to the next sync's crash recovery.
pub fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    let mut signals = Signals::install();
    tokio::spawn(async move {
        signals.next().await;
        info!("signal received: stopping");
        trigger.cancel();
        signals.next().await;
        error!(
            "second signal received: exiting at once; the next sync's crash recovery marks \
             the run in flight interrupted"
        );
        crate::telemetry::progress::erase();
        std::process::exit(i32::from(Exit::Interrupted.code()));
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

    async fn next(&mut self) {
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

    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
