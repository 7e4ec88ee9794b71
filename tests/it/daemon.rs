//! The daemon as a real child process (the README's systemd section, and the lock and crash recovery of
//! section 4): scheduled ticks, skipped ticks, signals, `kill -9`, a `--once` beside a running
//! daemon, an analyst's open read transaction, and systemd's readiness protocol.
//!
//! Every wait is a bounded poll of the database, the fake or the process: nothing here
//! asserts how fast something happens, except the 10 s shutdown bound that the README promises.

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tokio::net::UnixDatagram;
use tokio::time::timeout;

use crate::fake_api::{Fault, LinkLocation, Pagination};
use crate::helpers::{
    assert_exit, eventually, send_signal, server_error, slow, spawn_app, stderr,
    synced_app_with_pending_change, try_scalar, until_a_run_waits_on_the_fake, until_at_least,
    write_config, Daemon, TestApp, EVERY_SECOND, KEY, NEW_YEAR, PATIENCE, SHUTDOWN_BOUND,
};

/// One run row, for comparing runs with each other.
#[derive(Debug, Clone, sqlx::FromRow)]
struct RunRow {
    id: i64,
    trigger: String,
    mode: String,
    status: String,
    started_at: String,
    finished_at: Option<String>,
    watermark_before: Option<String>,
    watermark_after: Option<String>,
    http_status: Option<i64>,
}

async fn runs(app: &TestApp) -> Vec<RunRow> {
    let pool = app.db().await;
    let rows = sqlx::query_as::<_, RunRow>(
        "SELECT id, trigger, mode, status, started_at, finished_at, watermark_before, \
         watermark_after, http_status FROM sync_runs ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("sync_runs");
    pool.close().await;
    rows
}

/// Retries that cannot stretch a failing run: one attempt.
const NO_RETRIES: &str = "max_retries = 0\nretry_base_delay_ms = 5\n";

/// The startup run is checked under a schedule that cannot fire, and the 1 s schedule by a
/// second daemon: the startup tick and the first scheduled tick race each other (whichever
/// takes the daemon's busy flag runs), so no assertion here depends on which wins.
#[tokio::test]
async fn startup_run_is_full_and_a_one_second_schedule_then_runs_incremental_syncs() {
    let app = spawn_app(7).await;
    let mut daemon = Daemon::start(&app, NEW_YEAR, &[], &[]);
    until_at_least(
        &app,
        "the startup run to succeed",
        "SELECT count(*) FROM sync_runs WHERE status = 'success'",
        1,
    )
    .await;
    daemon.sigterm_and_expect_exit_0().await;
    let startup = runs(&app).await;
    assert_eq!(startup.len(), 1, "{startup:#?}\n{}", daemon.log());
    assert_eq!(
        (
            startup[0].trigger.as_str(),
            startup[0].status.as_str(),
            startup[0].mode.as_str()
        ),
        ("startup", "success", "full"),
        "{startup:#?}\n{}",
        daemon.log()
    );

    let mut daemon = Daemon::start(&app, EVERY_SECOND, &[], &[]);
    until_at_least(
        &app,
        "two successful scheduled runs",
        "SELECT count(*) FROM sync_runs WHERE trigger = 'schedule' AND status = 'success'",
        2,
    )
    .await;

    daemon.assert_running();
    let runs = runs(&app).await;
    let later = &runs[1..];
    assert!(
        later
            .iter()
            .all(|r| r.trigger == "schedule" || r.trigger == "startup"),
        "every later run is the second daemon's: {runs:#?}"
    );
    assert!(
        later.iter().filter(|r| r.trigger == "startup").count() <= 1,
        "one startup run per daemon at most: {runs:#?}"
    );
    assert!(
        later
            .iter()
            .filter(|r| r.status == "success")
            .all(|r| r.mode == "incremental"),
        "runs after a full one are incremental: {runs:#?}"
    );
    assert_eq!(app.live_groups().await, 7);
    assert!(app.watermark().await.is_some());
    daemon.sigterm_and_expect_exit_0().await;
}

#[tokio::test]
async fn sigterm_during_a_slow_response_exits_0_within_10_s_and_marks_the_run_interrupted() {
    let app = synced_app_with_pending_change(6).await;
    let (rows, watermark) = (app.snapshot().await, app.watermark().await);
    app.api.push_fault(slow(20));
    let mut daemon = Daemon::start(&app, NEW_YEAR, &[], &[]);
    until_a_run_waits_on_the_fake(&app).await;

    daemon.sigterm_and_expect_exit_0().await;

    let runs = runs(&app).await;
    let last = runs.last().expect("the startup run");
    assert_eq!(
        (last.trigger.as_str(), last.status.as_str()),
        ("startup", "interrupted"),
        "{runs:#?}\n{}",
        daemon.log()
    );
    assert!(last.finished_at.is_some(), "{last:?}");
    assert_eq!(last.watermark_after, last.watermark_before);
    assert_eq!(app.snapshot().await, rows, "no row changed");
    assert_eq!(
        app.watermark().await,
        watermark,
        "the watermark did not move"
    );
}

#[tokio::test]
async fn kill_9_mid_run_leaves_a_running_row_that_the_next_once_recovers() {
    let app = spawn_app(20).await;
    // Linked pages are asked for one after another, so the faults below meet them in order.
    app.api.set_pagination(
        Pagination::NextUrl {
            location: LinkLocation::TopLevel,
            absolute: true,
        },
        5,
    );
    // Page 1 arrives and is committed; page 2 hangs.
    app.api.push_fault(Fault::Pass);
    app.api.push_fault(slow(30));
    let mut daemon = Daemon::start(&app, NEW_YEAR, &[], &[]);
    until_at_least(
        &app,
        "the first page to be committed",
        "SELECT count(*) FROM customer_groups",
        5,
    )
    .await;
    eventually("the request for page 2", || async {
        (app.api.request_count() >= 2).then_some(())
    })
    .await;

    send_signal(daemon.pid(), "KILL").await;
    daemon
        .exit_within(PATIENCE)
        .await
        .expect("SIGKILL ends the daemon");

    let dead = runs(&app).await;
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0].status, "running", "nobody recorded the death");
    assert_eq!(app.watermark().await, None, "a dead run never moves it");
    assert_eq!(
        app.live_groups().await,
        5,
        "page 1 stays: upserts are idempotent"
    );

    let out = app.run_binary(&["--once"], &[]).await;

    assert_exit(&out, 0);
    let after = runs(&app).await;
    assert_eq!(after.len(), 2, "{after:#?}");
    let (killed, recovery) = (&after[0], &after[1]);
    assert_eq!(killed.status, "interrupted", "{after:#?}");
    assert!(killed.finished_at.is_some(), "{killed:?}");
    assert_eq!(killed.watermark_after, None, "{killed:?}");
    assert_eq!(
        (recovery.trigger.as_str(), recovery.status.as_str()),
        ("once", "success"),
        "{after:#?}"
    );
    assert_eq!(recovery.mode, "full", "no watermark yet, so a full run");
    assert_eq!(app.live_groups().await, 20);
    assert!(recovery.watermark_after.is_some());
    assert_eq!(app.watermark().await, recovery.watermark_after);
}

#[tokio::test]
async fn tick_that_finds_a_sync_running_is_skipped_and_logged_and_the_daemon_goes_on() {
    let app = spawn_app(5).await;
    // The startup run hangs for several ticks of the 1 s schedule.
    app.api.push_fault(slow(4));
    let mut daemon = Daemon::start(&app, EVERY_SECOND, &[], &[]);

    until_at_least(
        &app,
        "a skipped tick",
        "SELECT count(*) FROM sync_log WHERE event = 'skipped_tick'",
        1,
    )
    .await;
    until_at_least(
        &app,
        "a successful scheduled run after the slow startup run",
        "SELECT count(*) FROM sync_runs WHERE trigger = 'schedule' AND status = 'success'",
        1,
    )
    .await;

    daemon.assert_running();
    let runs = runs(&app).await;
    // The startup tick or the first scheduled one (they race) took the slow response.
    assert!(
        matches!(runs[0].trigger.as_str(), "startup" | "schedule"),
        "{runs:#?}"
    );
    assert_eq!(
        runs[0].status,
        "success",
        "the slow run was not disturbed: {runs:#?}\n{}",
        daemon.log()
    );
    for pair in runs.windows(2) {
        let previous_end = pair[0].finished_at.as_deref().unwrap_or("9999");
        assert!(
            previous_end <= pair[1].started_at.as_str(),
            "runs overlap: {pair:#?}"
        );
    }
    let skipped = app
        .text(
            "SELECT message || '|' || level || '|' || coalesce(CAST(sync_run_id AS TEXT), 'none') \
             FROM sync_log WHERE event = 'skipped_tick' ORDER BY id LIMIT 1",
        )
        .await
        .unwrap_or_default();
    assert!(skipped.contains("still running"), "{skipped}");
    assert!(skipped.ends_with("|info|none"), "{skipped}");
    assert_eq!(app.live_groups().await, 5);
    daemon.sigterm_and_expect_exit_0().await;
}

#[tokio::test]
async fn failing_runs_do_not_stop_the_daemon_and_a_later_tick_succeeds() {
    let app = synced_app_with_pending_change(4).await;
    let watermark = app.watermark().await;
    for _ in 0..3 {
        app.api.push_fault(server_error());
    }
    let config = write_config(&app, NO_RETRIES);
    let config = config.to_str().expect("utf-8 path");
    let mut daemon = Daemon::start(&app, EVERY_SECOND, &["--config", config], &[]);

    until_at_least(
        &app,
        "a successful run after the failures",
        "SELECT count(*) FROM sync_runs WHERE status = 'success' AND trigger <> 'once'",
        1,
    )
    .await;

    daemon.assert_running();
    let runs = runs(&app).await;
    let failed: Vec<&RunRow> = runs.iter().filter(|r| r.status == "failed").collect();
    assert_eq!(failed.len(), 3, "one failed run per 500: {runs:#?}");
    for run in &failed {
        assert_eq!(run.http_status, Some(500), "{run:?}");
        assert_eq!(run.watermark_before, watermark, "{run:?}");
        assert_eq!(run.watermark_after, watermark, "a failed run keeps it");
    }
    let success = runs
        .iter()
        .find(|r| r.status == "success" && r.trigger != "once")
        .expect("the success");
    assert!(
        failed.iter().all(|r| r.id < success.id),
        "the success came after the failures: {runs:#?}"
    );
    assert_eq!(app.live_groups().await, 5, "the pending group arrived");
    assert_eq!(
        app.text("SELECT group_name FROM customer_groups WHERE id = 1000")
            .await
            .as_deref(),
        Some("Pending")
    );
    daemon.sigterm_and_expect_exit_0().await;
}

#[tokio::test]
async fn rejected_key_does_not_stop_the_daemon_and_a_later_tick_succeeds() {
    let app = synced_app_with_pending_change(4).await;
    let (rows, watermark) = (app.snapshot().await, app.watermark().await);
    app.api.set_api_key(Some("the-rotated-key"));
    let mut daemon = Daemon::start(&app, EVERY_SECOND, &[], &[]);

    until_at_least(
        &app,
        "two auth-failed runs",
        "SELECT count(*) FROM sync_runs WHERE status = 'auth_failed'",
        2,
    )
    .await;
    daemon.assert_running();
    assert_eq!(app.snapshot().await, rows, "an auth failure writes no row");
    assert_eq!(app.watermark().await, watermark);
    assert!(app.events("auth_failure").await >= 2);

    app.api.set_api_key(Some(KEY));
    until_at_least(
        &app,
        "a successful run once the key is accepted again",
        "SELECT count(*) FROM sync_runs WHERE status = 'success' AND trigger <> 'once'",
        1,
    )
    .await;

    daemon.assert_running();
    assert_eq!(app.live_groups().await, 5, "the pending group arrived");
    daemon.sigterm_and_expect_exit_0().await;
}

#[tokio::test]
async fn once_started_while_the_daemon_syncs_waits_for_the_lock_then_succeeds_without_overlap() {
    let app = spawn_app(8).await;
    // Long enough that `--once` surely starts while the daemon's run holds the lock.
    app.api.push_fault(slow(8));
    let mut daemon = Daemon::start(&app, NEW_YEAR, &[], &[]);
    until_a_run_waits_on_the_fake(&app).await;

    let out = app.run_binary(&["--once"], &[]).await;

    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("waiting"),
        "--once said it waited for the lock: {}",
        stderr(&out)
    );
    let runs = runs(&app).await;
    assert_eq!(runs.len(), 2, "{runs:#?}\n{}", daemon.log());
    let (daemons, once) = (&runs[0], &runs[1]);
    assert_eq!(
        (daemons.trigger.as_str(), daemons.status.as_str()),
        ("startup", "success"),
        "{runs:#?}"
    );
    assert_eq!(
        (once.trigger.as_str(), once.status.as_str()),
        ("once", "success"),
        "{runs:#?}"
    );
    let daemon_end = daemons.finished_at.as_deref().expect("finished");
    assert!(daemon_end <= once.started_at.as_str(), "{runs:#?}");
    // `--once` read the state only after the daemon's run had committed its watermark.
    assert_eq!(once.mode, "incremental", "{runs:#?}");
    assert!(daemons.watermark_after.is_some());
    assert_eq!(once.watermark_before, daemons.watermark_after, "{runs:#?}");
    assert_eq!(app.live_groups().await, 8);
    daemon.assert_running();
    daemon.sigterm_and_expect_exit_0().await;
}

#[tokio::test]
async fn sync_completes_under_an_open_read_transaction_whose_snapshot_stays_fixed() {
    let app = spawn_app(10).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    for id in 101..=105 {
        app.api
            .put_group(id, 1, &format!("New {id}"), "2099-01-01 00:00:00");
    }
    let options = SqliteConnectOptions::new()
        .filename(&app.db_path)
        .read_only(true);
    let mut reader = SqliteConnection::connect_with(&options)
        .await
        .expect("analyst connection");
    let count = "SELECT (SELECT count(*) FROM customer_groups) * 1000 \
                 + (SELECT count(*) FROM sync_runs)";
    sqlx::query("BEGIN")
        .execute(&mut reader)
        .await
        .expect("BEGIN");
    let before: i64 = sqlx::query_scalar(count)
        .fetch_one(&mut reader)
        .await
        .expect("first read");
    assert_eq!(before, 10_001);

    let out = app.run_binary(&["--once"], &[]).await;

    assert_exit(&out, 0);
    let during: i64 = sqlx::query_scalar(count)
        .fetch_one(&mut reader)
        .await
        .expect("read inside the transaction");
    assert_eq!(during, before, "the reader's snapshot did not change");
    sqlx::query("COMMIT")
        .execute(&mut reader)
        .await
        .expect("COMMIT");
    let after: i64 = sqlx::query_scalar(count)
        .fetch_one(&mut reader)
        .await
        .expect("read after the transaction");
    assert_eq!(after, 15_002, "a new transaction sees the new rows and run");
    reader.close().await.expect("close");
    assert_eq!(app.last_run_status().await, "success");
}

#[tokio::test]
async fn invalid_cron_exits_2_and_touches_no_database() {
    let app = spawn_app(3).await;

    let out = app
        .run_binary(&["run", "--schedule", "not a cron"], &[])
        .await;

    assert_exit(&out, 2);
    let left: Vec<_> = std::fs::read_dir(app.dir.path())
        .expect("temp dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "no database, WAL or lock file: {left:?}");
    assert_eq!(app.api.request_count(), 0);
}

/// The next datagram on the notify socket, as text.
async fn receive(socket: &UnixDatagram, what: &str) -> String {
    let mut buf = vec![0u8; 4096];
    let n = timeout(PATIENCE, socket.recv(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no {what} datagram"))
        .expect("recv");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn notify_socket_gets_ready_after_start_and_stopping_on_sigterm() {
    let app = spawn_app(2).await;
    let socket_path = app.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    let socket_env = socket_path.to_str().expect("utf-8 path");
    let mut daemon = Daemon::start(&app, NEW_YEAR, &[], &[("NOTIFY_SOCKET", socket_env)]);

    let ready = receive(&socket, "READY").await;

    assert!(
        ready.lines().any(|l| l == "READY=1"),
        "{ready:?}\n{}",
        daemon.log()
    );
    assert_eq!(
        try_scalar(
            &app,
            "SELECT count(*) FROM sqlite_master WHERE name = 'sync_runs'"
        )
        .await,
        Some(1),
        "READY=1 comes after the migrations"
    );

    send_signal(daemon.pid(), "TERM").await;
    let stopping = receive(&socket, "STOPPING").await;

    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    let status = daemon.exit_within(SHUTDOWN_BOUND).await;
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", daemon.log());
}
