//! A full sync that was due stays due until one succeeds, across restarts too, and the two
//! schedules firing together make one full run (SPEC section 7).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use tokio::process::Child;
use xtrakit_sync::lock::lock_path;

use crate::helpers::{assert_exit, spawn_app, wait_until, TestApp};

/// A schedule that never fires during a test.
const NEW_YEAR: &str = "0 0 0 1 1 *";

/// A daemon with both schedules, its stderr in a file; killed when dropped.
struct Daemon {
    _child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(app: &TestApp, schedule: &str, full_schedule: &str) -> Daemon {
        let log = app.dir.path().join("daemon.log");
        let child = app
            .command()
            .args(["run", "--schedule", schedule])
            .args(["--full-sync-schedule", full_schedule])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("daemon starts");
        Daemon { _child: child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A 6-field cron that fires once a day, at `at`'s second.
fn daily_at(at: DateTime<Utc>) -> String {
    format!("{} {} {} * * *", at.second(), at.minute(), at.hour())
}

/// Polls `sql` (one text column) until it yields a row; `None` after 30 s.
async fn first_row(app: &TestApp, sql: &str) -> Option<String> {
    let db = app.db().await;
    let mut found = None;
    for _ in 0..300 {
        found = sqlx::query_scalar(sql)
            .fetch_optional(&db)
            .await
            .ok()
            .flatten();
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.close().await;
    found
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
    let daemon = Daemon::start(&app, "*/1 * * * * *", &daily_at(fire));
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
    let mode = first_row(&app, sql).await;

    assert_eq!(mode.as_deref(), Some("full"), "{}", daemon.log());
}

#[tokio::test]
async fn a_full_sync_that_fell_due_while_the_daemon_was_down_runs_at_start() {
    let app = spawn_app(10).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    let missed = Utc::now() + chrono::Duration::seconds(1);
    wait_until("the full schedule's time to pass", || Utc::now() > missed).await;

    let daemon = Daemon::start(&app, NEW_YEAR, &daily_at(missed));
    let sql = "SELECT mode FROM sync_runs WHERE trigger = 'startup' ORDER BY id LIMIT 1";
    let mode = first_row(&app, sql).await;

    assert_eq!(mode.as_deref(), Some("full"), "{}", daemon.log());
}

#[tokio::test]
async fn a_full_sync_that_already_ran_since_the_schedule_fired_is_not_repeated_at_start() {
    let app = spawn_app(10).await;
    let fired = Utc::now() - chrono::Duration::seconds(2);
    assert_exit(&app.run_binary(&["--once", "--full"], &[]).await, 0);

    let daemon = Daemon::start(&app, NEW_YEAR, &daily_at(fired));
    let sql = "SELECT mode FROM sync_runs WHERE trigger = 'startup' ORDER BY id LIMIT 1";
    let mode = first_row(&app, sql).await;

    assert_eq!(mode.as_deref(), Some("incremental"), "{}", daemon.log());
}

#[tokio::test]
async fn both_schedules_firing_together_make_one_full_run_and_no_skipped_tick() {
    let app = spawn_app(10).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    let every_two = "*/2 * * * * *";

    let daemon = Daemon::start(&app, every_two, every_two);
    let sql = "SELECT group_concat(mode) FROM (SELECT mode FROM sync_runs \
               WHERE trigger = 'schedule' ORDER BY id) HAVING count(*) >= 3";
    let modes = first_row(&app, sql).await;

    assert_eq!(modes.as_deref(), Some("full,full,full"), "{}", daemon.log());
    assert_eq!(app.events("skipped_tick").await, 0, "{}", daemon.log());
}
