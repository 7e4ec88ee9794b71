//! systemd's readiness protocol (`Type=notify`). Outside systemd `NOTIFY_SOCKET` is unset and
//! these do nothing.

use sd_notify::NotifyState;
use tracing::debug;

pub(super) fn ready() {
    send(&[
        NotifyState::Ready,
        NotifyState::Status("syncing on schedule"),
    ]);
}

pub(super) fn stopping() {
    send(&[NotifyState::Stopping]);
}

fn send(states: &[NotifyState<'_>]) {
    // A failed notification is systemd's problem to report (it times the unit out); the
    // daemon itself can go on.
    if let Err(e) = sd_notify::notify(false, states) {
        debug!(error = %e, "sd_notify failed");
    }
}
