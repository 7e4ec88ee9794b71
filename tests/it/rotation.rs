//! Rotating the API key under a running daemon (issue 13): SIGHUP reads the key file again,
//! and the next run uses the new key; a key file that cannot be read keeps the old key; the
//! signals the daemon has no use for never end it.

use std::path::PathBuf;

use crate::helpers::{eventually, send_signal, spawn_app, Daemon, TestApp, EVERY_SECOND, KEY};

fn key_file(app: &TestApp, key: &str) -> PathBuf {
    let path = app.dir.path().join("api-key");
    std::fs::write(&path, key).expect("key file");
    path
}

/// The daemon on `key_file`, every second; returns once its first run succeeded.
async fn daemon_on(app: &TestApp, key_file: &std::path::Path) -> Daemon {
    let path = key_file.to_str().expect("utf-8 path");
    let daemon = Daemon::start(app, EVERY_SECOND, &["--api-key-file", path], &[]);
    successes_after(app, 0).await;
    daemon
}

/// Waits for a successful run with an id above `after`; returns the highest such id.
async fn successes_after(app: &TestApp, after: i64) -> i64 {
    // A row, not `max(id)`: SQLite's NULL for "none" would read as 0.
    let sql = format!(
        "SELECT id FROM sync_runs WHERE status = 'success' AND id > {after} \
         ORDER BY id DESC LIMIT 1"
    );
    eventually("a successful run", || async {
        crate::helpers::try_scalar(app, &sql).await
    })
    .await
}

/// The newest run's id: any run after it started once the signal was handled.
async fn last_run_id(app: &TestApp) -> i64 {
    crate::helpers::try_scalar(app, "SELECT id FROM sync_runs ORDER BY id DESC LIMIT 1")
        .await
        .unwrap_or(0)
}

async fn log_line(daemon: &Daemon, needle: &str) {
    eventually(needle, || async {
        daemon.log().contains(needle).then_some(())
    })
    .await;
}

#[tokio::test]
async fn sighup_reads_the_key_file_again_and_the_next_run_uses_the_new_key() {
    let app = spawn_app(3).await;
    let file = key_file(&app, KEY);
    let mut daemon = daemon_on(&app, &file).await;

    app.api.set_api_key(Some("rotated-key"));
    std::fs::write(&file, "rotated-key\n").expect("new key");
    send_signal(daemon.pid(), "HUP").await;
    log_line(&daemon, "the next run uses it").await;
    let last = last_run_id(&app).await;

    successes_after(&app, last).await;
    daemon.assert_running();
    assert!(
        !daemon.log().contains("rotated-key"),
        "the key itself is never logged"
    );
    daemon.sigterm_and_expect_exit_0().await;
}

#[tokio::test]
async fn sighup_with_an_unreadable_key_file_keeps_the_current_key() {
    let app = spawn_app(3).await;
    let file = key_file(&app, KEY);
    let mut daemon = daemon_on(&app, &file).await;

    std::fs::remove_file(&file).expect("key file removed");
    send_signal(daemon.pid(), "HUP").await;
    log_line(&daemon, "the current key stays in use").await;
    let last = last_run_id(&app).await;

    successes_after(&app, last).await;
    daemon.assert_running();
    daemon.sigterm_and_expect_exit_0().await;
}

#[tokio::test]
async fn sigusr1_and_sigusr2_are_logged_and_ignored() {
    let app = spawn_app(3).await;
    let file = key_file(&app, KEY);
    let mut daemon = daemon_on(&app, &file).await;

    send_signal(daemon.pid(), "USR1").await;
    send_signal(daemon.pid(), "USR2").await;
    log_line(&daemon, "SIGUSR1 received and ignored").await;
    log_line(&daemon, "SIGUSR2 received and ignored").await;

    daemon.assert_running();
    daemon.sigterm_and_expect_exit_0().await;
}
