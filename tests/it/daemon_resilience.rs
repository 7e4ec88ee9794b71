//! The daemon against a hostile host (issue 14, items 2 to 4): its database deleted or
//! replaced between ticks, an analyst holding the write lock while it stops or while ticks
//! are skipped, and a second signal. Every test runs the real binary.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tokio::time::Instant;

use crate::helpers::{
    assert_exit, eventually, finish, hold_write_lock, release_write_lock, send_signal, slow,
    spawn_app, stderr, synced_app_with_pending_change, try_scalar, until_a_run_waits_on_the_fake,
    until_at_least, wait_for_stderr_line, wait_until, Daemon, TestApp, EVERY_SECOND, NEW_YEAR,
    SHUTDOWN_BOUND,
};

/// A database with a pending change upstream, a daemon whose startup run is waiting for a
/// slow response, and an analyst who took the write lock meanwhile; the run's first page
/// then waits on the analyst.
async fn daemon_blocked_by_an_analyst(schedule: &str) -> (TestApp, Daemon, SqliteConnection) {
    let app = synced_app_with_pending_change(6).await;
    app.api.push_fault(slow(3));
    let daemon = Daemon::start(&app, schedule, &[], &[]);
    until_a_run_waits_on_the_fake(&app).await;
    let analyst = hold_write_lock(&app).await;
    (app, daemon, analyst)
}

#[tokio::test]
async fn deleting_or_replacing_the_database_between_ticks_makes_the_next_ticks_write_into_the_new_file(
) {
    let app = spawn_app(4).await;
    let mut daemon = Daemon::start(&app, EVERY_SECOND, &[], &[]);
    let successes = "SELECT count(*) FROM sync_runs WHERE status = 'success'";
    until_at_least(&app, "two successful runs", successes, 2).await;

    std::fs::remove_file(&app.db_path).expect("database deleted");

    until_at_least(&app, "a successful run in a new file", successes, 1).await;
    until_at_least(
        &app,
        "the groups in the new file",
        "SELECT count(*) FROM customer_groups",
        4,
    )
    .await;
    daemon.assert_running();
    assert!(
        daemon.log().contains("was deleted while the daemon ran"),
        "{}",
        daemon.log()
    );

    let replacement = app.dir.path().join("replacement.db");
    let options = SqliteConnectOptions::new()
        .filename(&replacement)
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .expect("replacement");
    sqlx::query("CREATE TABLE analyst_marker (x)")
        .execute(&mut conn)
        .await
        .expect("marker");
    conn.close().await.expect("replacement closes");
    std::fs::rename(&replacement, &app.db_path).expect("database replaced");

    until_at_least(
        &app,
        "a successful run in the replacement file",
        "SELECT (SELECT count(*) FROM sync_runs WHERE status = 'success') \
         * (SELECT count(*) FROM sqlite_master WHERE name = 'analyst_marker')",
        1,
    )
    .await;
    daemon.assert_running();
    assert!(
        daemon.log().contains("was replaced while the daemon ran"),
        "{}",
        daemon.log()
    );
    assert_eq!(
        try_scalar(&app, "SELECT count(*) FROM customer_groups").await,
        Some(4)
    );
    daemon.sigterm_and_expect_exit_0().await;
}

#[tokio::test]
async fn sigterm_while_an_analyst_holds_the_write_lock_exits_within_10_s() {
    let (app, mut daemon, analyst) = daemon_blocked_by_an_analyst(NEW_YEAR).await;
    // The response has arrived; the first page now waits on the analyst's lock. A sleep, not
    // a poll: nothing outside shows a connection waiting in SQLite's busy handler, so this
    // outlasts the fake's 3 s delay.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let sent = Instant::now();
    daemon.sigterm_and_expect_exit_0().await;

    let took = sent.elapsed();
    assert!(
        daemon.log().contains("crash recovery"),
        "the log says who will mark the run: {}",
        daemon.log()
    );
    release_write_lock(analyst).await;
    assert_eq!(
        app.last_run_status().await,
        "running",
        "the lock never came free, so the run could not be marked ({took:?})"
    );
    let out = app.run_binary(&["--once"], &[]).await;
    assert_exit(&out, 0);
    assert_eq!(
        app.text("SELECT status FROM sync_runs ORDER BY id LIMIT 1 OFFSET 1")
            .await
            .as_deref(),
        Some("interrupted"),
        "the next sync's crash recovery marked it"
    );
}

#[tokio::test]
async fn a_second_signal_ends_a_stopping_daemon_at_once_with_130() {
    let (_app, mut daemon, analyst) = daemon_blocked_by_an_analyst(NEW_YEAR).await;
    // Outlasts the fake's 3 s delay: the first page then waits on the analyst (see above).
    tokio::time::sleep(Duration::from_secs(4)).await;

    send_signal(daemon.pid(), "TERM").await;
    wait_until("the daemon to take the first signal", || {
        daemon.log().contains("signal received: stopping")
    })
    .await;
    send_signal(daemon.pid(), "INT").await;

    let status = daemon.exit_within(Duration::from_secs(2)).await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(130),
        "log:\n{}",
        daemon.log()
    );
    release_write_lock(analyst).await;
}

/// `--once` whose page waits on an analyst's write lock, then `signals`, each sent once the
/// previous one was taken (logged).
async fn interrupt_a_once_blocked_by_an_analyst(
    signals: &[&str],
) -> (TestApp, std::process::Output, Duration) {
    let app = synced_app_with_pending_change(6).await;
    app.api.push_fault(slow(3));
    let mut child = app.spawn_binary(&["--once"], &[]);
    let pid = child.id().expect("child pid");
    eventually("the request to reach the fake", || async {
        (app.api.request_count() > 0).then_some(())
    })
    .await;
    let analyst = hold_write_lock(&app).await;
    // Outlasts the fake's 3 s delay: the page then waits on the analyst; no event shows that.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let sent = Instant::now();
    for (i, signal) in signals.iter().enumerate() {
        if i > 0 {
            wait_for_stderr_line(&mut child, "signal received: stopping").await;
        }
        send_signal(pid, signal).await;
    }
    let out = finish(child).await;
    let took = sent.elapsed();
    release_write_lock(analyst).await;
    (app, out, took)
}

#[tokio::test]
async fn sigint_to_a_once_whose_page_waits_on_an_analyst_exits_130_within_10_s() {
    let (app, out, took) = interrupt_a_once_blocked_by_an_analyst(&["INT"]).await;

    assert_exit(&out, 130);
    assert!(took < SHUTDOWN_BOUND, "took {took:?}: {}", stderr(&out));
    assert!(stderr(&out).contains("crash recovery"), "{}", stderr(&out));
    assert_eq!(app.last_run_status().await, "running");
}

#[tokio::test]
async fn a_second_sigint_ends_a_stopping_once_at_once_with_130() {
    let (_app, out, took) = interrupt_a_once_blocked_by_an_analyst(&["INT", "INT"]).await;

    assert_exit(&out, 130);
    assert!(
        took < Duration::from_secs(2),
        "took {took:?}: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("second signal"), "{}", stderr(&out));
}

#[tokio::test]
async fn skipped_ticks_under_an_analysts_write_lock_never_starve_the_run_which_keeps_its_true_reason(
) {
    let (app, mut daemon, analyst) = daemon_blocked_by_an_analyst(EVERY_SECOND).await;
    // Longer than the writer's 30 s busy timeout from the moment the first page asks: what
    // the test is about is that timeout passing, and it cannot be shortened from here.
    tokio::time::sleep(Duration::from_secs(37)).await;
    release_write_lock(analyst).await;

    until_at_least(
        &app,
        "a successful run after the lock came free",
        "SELECT count(*) FROM sync_runs WHERE status = 'success' AND trigger = 'schedule'",
        1,
    )
    .await;
    daemon.assert_running();
    let startup = app
        .text(
            "SELECT status || ' | ' || coalesce(error, '') FROM sync_runs \
             WHERE trigger = 'startup' ORDER BY id DESC LIMIT 1",
        )
        .await
        .unwrap_or_default();
    assert!(
        startup.starts_with("failed | ") && startup.contains("database is locked"),
        "the run ended with its true reason: {startup}\n{}",
        daemon.log()
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM sync_runs WHERE error LIKE '%died%'")
            .await,
        0,
        "no run was relabelled as left by a dead process"
    );
    assert!(
        daemon
            .log()
            .contains("could not log the skipped tick in the database"),
        "a skipped tick that could not wait was logged to stderr: {}",
        daemon.log()
    );
    daemon.sigterm_and_expect_exit_0().await;
}
