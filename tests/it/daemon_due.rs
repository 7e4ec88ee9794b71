//! A full sync that was due stays due until one succeeds, across restarts too, and the two
//! schedules firing together make one full run (the README's systemd section).

use chrono::{DateTime, Timelike, Utc};
use xtrakit_sync::lock::lock_path;

use crate::helpers::{
    assert_exit, eventually, spawn_app, try_text, until_at_least, wait_until, Daemon, EVERY_SECOND,
    NEW_YEAR,
};

/// A 6-field cron that fires once a day, at `at`'s second.
fn daily_at(at: DateTime<Utc>) -> String {
    format!("{} {} {} * * *", at.second(), at.minute(), at.hour())
}

#[tokio::test]
async fn a_full_sync_due_when_its_tick_fails_to_start_is_done_by_the_next_tick() {
    let app = spawn_app(10).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    // A directory where the lock file should be: every tick fails before its sync starts.
    let lock = lock_path(&app.db_path);
    let _ = std::fs::remove_file(&lock);
    std::fs::create_dir(&lock).expect("lock path made a directory");
    let fire = Utc::now() + chrono::Duration::seconds(6);
    let daemon = Daemon::start_with_full_schedule(&app, EVERY_SECOND, &daily_at(fire), &[], &[]);
    wait_until("the daemon to start", || {
        daemon.log().contains("daemon started")
    })
    .await;
    assert!(
        Utc::now() < fire,
        "the daemon started after the full tick's time; the test proves nothing"
    );
    wait_until("the full tick to pass", || {
        Utc::now() > fire + chrono::Duration::milliseconds(1500)
    })
    .await;
    assert!(
        daemon.log().matches("sync could not run").count() >= 2,
        "{}",
        daemon.log()
    );

    std::fs::remove_dir(&lock).expect("lock directory removed");
    let sql = "SELECT mode FROM sync_runs WHERE trigger = 'schedule' ORDER BY id LIMIT 1";
    let mode = eventually("the first scheduled run", || try_text(&app, sql)).await;

    assert_eq!(mode, "full", "{}", daemon.log());
}

#[tokio::test]
async fn a_full_sync_that_fell_due_while_the_daemon_was_down_runs_at_start() {
    let app = spawn_app(10).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    let missed = Utc::now() + chrono::Duration::seconds(1);
    wait_until("the full schedule's time to pass", || Utc::now() > missed).await;

    let daemon = Daemon::start_with_full_schedule(&app, NEW_YEAR, &daily_at(missed), &[], &[]);
    let sql = "SELECT mode FROM sync_runs WHERE trigger = 'startup' ORDER BY id LIMIT 1";
    let mode = eventually("the startup run", || try_text(&app, sql)).await;

    assert_eq!(mode, "full", "{}", daemon.log());
}

#[tokio::test]
async fn a_full_sync_that_already_ran_since_the_schedule_fired_is_not_repeated_at_start() {
    let app = spawn_app(10).await;
    let fired = Utc::now() - chrono::Duration::seconds(2);
    assert_exit(&app.run_binary(&["--once", "--full"], &[]).await, 0);

    let daemon = Daemon::start_with_full_schedule(&app, NEW_YEAR, &daily_at(fired), &[], &[]);
    let sql = "SELECT mode FROM sync_runs WHERE trigger = 'startup' ORDER BY id LIMIT 1";
    let mode = eventually("the startup run", || try_text(&app, sql)).await;

    assert_eq!(mode, "incremental", "{}", daemon.log());
}

#[tokio::test]
async fn both_schedules_firing_together_make_one_full_run_and_no_skipped_tick() {
    let app = spawn_app(10).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    let every_two = "*/2 * * * * *";

    let daemon = Daemon::start_with_full_schedule(&app, every_two, every_two, &[], &[]);
    let count = "SELECT count(*) FROM sync_runs WHERE trigger = 'schedule'";
    until_at_least(&app, "three scheduled runs", count, 3).await;
    let pool = app.db().await;
    let modes: Vec<String> = sqlx::query_scalar(
        "SELECT mode FROM sync_runs WHERE trigger = 'schedule' ORDER BY id LIMIT 3",
    )
    .fetch_all(&pool)
    .await
    .expect("modes");
    pool.close().await;

    assert_eq!(modes, ["full", "full", "full"], "{}", daemon.log());
    assert_eq!(app.events("skipped_tick").await, 0, "{}", daemon.log());
}
