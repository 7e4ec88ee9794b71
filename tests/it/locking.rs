//! One sync at a time per database, across processes (the README's "How a sync works"): the real binary
//! against `<database>.lock`.

use std::time::Duration;

use crate::fake_api::Fault;
use crate::helpers::{
    assert_exit, finish, send_signal, spawn_app, stderr, wait_for_stderr_line, wait_until,
    write_config, TestApp,
};
use xtrakit_sync::lock;

/// One `sync_runs` row, as the locking tests compare runs.
#[derive(Debug, sqlx::FromRow)]
struct RunRow {
    status: String,
    mode: String,
    started_at: String,
    finished_at: Option<String>,
}

/// Every run, oldest first.
async fn runs(app: &TestApp) -> Vec<RunRow> {
    let pool = app.db().await;
    let runs = sqlx::query_as::<_, RunRow>(
        "SELECT status, mode, started_at, finished_at FROM sync_runs ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("sync_runs");
    pool.close().await;
    runs
}

#[tokio::test]
async fn two_once_runs_started_together_are_serialised() {
    let app = spawn_app(20).await;
    app.api.push_fault(Fault::Slow {
        delay: Duration::from_millis(1500),
    });

    let first = app.spawn_binary(&["--once"], &[]);
    let second = app.spawn_binary(&["--once"], &[]);
    let (first, second) = tokio::join!(finish(first), finish(second));

    assert_exit(&first, 0);
    assert_exit(&second, 0);
    let runs = runs(&app).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let (a, b) = (&runs[0], &runs[1]);
    let a_finished = a.finished_at.as_deref().expect("first run finished");
    assert!(
        a_finished <= b.started_at.as_str(),
        "the second run started before the first finished: {runs:?}"
    );
    assert_eq!(
        (a.status.as_str(), b.status.as_str()),
        ("success", "success")
    );
    assert_eq!(
        (a.mode.as_str(), b.mode.as_str()),
        ("full", "incremental"),
        "the second run saw the watermark the first committed"
    );
    assert_eq!(app.live_groups().await, 20);
}

#[tokio::test]
async fn once_exits_4_when_the_lock_is_held_past_lock_wait_and_writes_no_run() {
    let app = spawn_app(5).await;
    let config = write_config(&app, "lock_wait_secs = 1\n");
    let config = config.to_str().unwrap();
    let held = lock::try_acquire(&app.db_path)
        .expect("lock file opens")
        .expect("lock is free");

    let out = app.run_binary(&["--once", "--config", config], &[]).await;

    assert_exit(&out, 4);
    let log = stderr(&out);
    assert!(log.contains("another sync"), "{log}");
    assert_eq!(app.scalar("SELECT count(*) FROM sync_runs").await, 0);
    assert_eq!(app.scalar("SELECT count(*) FROM customer_groups").await, 0);
    assert_eq!(app.api.request_count(), 0);

    drop(held);
    let out = app.run_binary(&["--once", "--config", config], &[]).await;

    assert_exit(&out, 0);
    assert_eq!(app.live_groups().await, 5);
}

#[tokio::test]
async fn waiting_once_proceeds_when_the_holder_lets_go() {
    let app = spawn_app(5).await;
    let held = lock::try_acquire(&app.db_path)
        .expect("lock file opens")
        .expect("lock is free");
    let mut child = app.spawn_binary(&["--once"], &[]);
    // Logged when the lock is found taken, before the wait for it.
    wait_for_stderr_line(&mut child, "another sync is running; waiting").await;
    assert_eq!(
        app.api.request_count(),
        0,
        "nothing is fetched without the lock"
    );

    drop(held);
    let out = finish(child).await;

    assert_exit(&out, 0);
    assert_eq!(app.live_groups().await, 5);
    assert_eq!(
        app.text("SELECT status FROM sync_runs").await.as_deref(),
        Some("success")
    );
}

#[tokio::test]
async fn waiting_once_leaves_the_live_run_of_another_process_alone() {
    let app = spawn_app(5).await;
    app.api.push_fault(Fault::Slow {
        delay: Duration::from_secs(3),
    });
    let config = write_config(&app, "lock_wait_secs = 1\n");
    let holder = app.spawn_binary(&["--once"], &[]);
    wait_until("the first --once to reach the fake", || {
        app.api.request_count() > 0
    })
    .await;

    let waiter = app
        .run_binary(&["--once", "--config", config.to_str().unwrap()], &[])
        .await;

    assert_exit(&waiter, 4);
    assert_eq!(
        app.text("SELECT status FROM sync_runs").await.as_deref(),
        Some("running"),
        "the live run is not marked interrupted by a process without the lock"
    );
    let holder = finish(holder).await;
    assert_exit(&holder, 0);
    assert_eq!(app.scalar("SELECT count(*) FROM sync_runs").await, 1);
    assert_eq!(
        app.text("SELECT status FROM sync_runs").await.as_deref(),
        Some("success")
    );
    assert_eq!(app.live_groups().await, 5);
}

#[tokio::test]
async fn killed_sync_releases_the_lock_and_the_next_once_marks_its_run_interrupted() {
    let app = spawn_app(5).await;
    app.api.push_fault(Fault::Slow {
        delay: Duration::from_secs(5),
    });
    let config = write_config(&app, "lock_wait_secs = 10\n");
    let config = config.to_str().unwrap();
    let victim = app.spawn_binary(&["--once"], &[]);
    let pid = victim.id().expect("child pid");
    wait_until("the first --once to reach the fake", || {
        app.api.request_count() > 0
    })
    .await;

    send_signal(pid, "KILL").await;
    let killed = finish(victim).await;
    assert_eq!(killed.status.code(), None, "killed by SIGKILL");
    assert_eq!(
        app.text("SELECT status FROM sync_runs").await.as_deref(),
        Some("running"),
        "a dead process leaves its run running"
    );

    let out = app.run_binary(&["--once", "--config", config], &[]).await;

    assert_exit(&out, 0);
    let runs = runs(&app).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].status, "interrupted");
    assert!(
        runs[0].finished_at.is_some(),
        "the recovered run is closed: {runs:?}"
    );
    assert_eq!(runs[1].status, "success");
    assert_eq!(app.live_groups().await, 5);
    assert!(app.watermark().await.is_some());
}

#[tokio::test]
async fn unlinking_the_lock_file_under_a_running_sync_does_not_let_a_second_once_run() {
    let app = spawn_app(5).await;
    app.api.push_fault(Fault::Slow {
        delay: Duration::from_secs(4),
    });
    let config = write_config(&app, "lock_wait_secs = 1\n");
    let config = config.to_str().unwrap();
    let holder = app.spawn_binary(&["--once"], &[]);
    wait_until("the first --once to reach the fake", || {
        app.api.request_count() > 0
    })
    .await;
    std::fs::remove_file(lock::lock_path(&app.db_path)).expect("lock file unlinked");

    let second = app.run_binary(&["--once", "--config", config], &[]).await;

    assert_exit(&second, 4);
    assert!(
        stderr(&second).contains("another sync"),
        "{}",
        stderr(&second)
    );
    assert_eq!(
        app.api.request_count(),
        1,
        "the second --once fetched nothing"
    );
    let holder = finish(holder).await;
    assert_exit(&holder, 0);
    assert_eq!(app.scalar("SELECT count(*) FROM sync_runs").await, 1);
    assert_eq!(
        app.text("SELECT status FROM sync_runs").await.as_deref(),
        Some("success"),
        "the live run was not marked interrupted by the second --once"
    );
    assert_eq!(app.live_groups().await, 5);
}
