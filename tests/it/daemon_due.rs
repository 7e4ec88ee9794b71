//! A full sync that was due stays due until one succeeds (SPEC section 7).

use std::process::Stdio;
use std::time::Duration;

use chrono::{Timelike, Utc};
use xtrakit_sync::lock::lock_path;

use crate::helpers::{assert_exit, spawn_app, wait_until};

#[tokio::test]
async fn a_full_sync_due_when_its_tick_fails_to_start_is_done_by_the_next_tick() {
    let app = spawn_app(10).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    // A directory where the lock file should be: every tick fails before its sync starts.
    let lock = lock_path(&app.db_path);
    let _ = std::fs::remove_file(&lock);
    std::fs::create_dir(&lock).expect("lock path made a directory");
    let fire = Utc::now() + chrono::Duration::seconds(6);
    let full_schedule = format!("{} {} {} * * *", fire.second(), fire.minute(), fire.hour());
    let log = app.dir.path().join("daemon.log");
    let mut daemon = app
        .command()
        .args(["run", "--schedule", "*/1 * * * * *"])
        .args(["--full-sync-schedule", &full_schedule])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("daemon starts");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the daemon to start", || {
        read_log().contains("daemon started")
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
    let failed_ticks = read_log().matches("sync could not run").count();
    assert!(failed_ticks >= 2, "{}", read_log());

    std::fs::remove_dir(&lock).expect("lock directory removed");
    let db = app.db().await;
    let sql = "SELECT mode FROM sync_runs WHERE trigger = 'schedule' ORDER BY id LIMIT 1";
    let mut mode: Option<String> = None;
    for _ in 0..300 {
        mode = sqlx::query_scalar(sql)
            .fetch_optional(&db)
            .await
            .ok()
            .flatten();
        if mode.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.close().await;
    let _ = daemon.start_kill();
    assert_eq!(mode.as_deref(), Some("full"), "{}", read_log());
}
