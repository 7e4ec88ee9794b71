//! Retention: `sync_log` and `sync_runs` rows older than `retention_days` are pruned in
//! batches, history only when `history_retention_days` is set, `customer_groups` never; the
//! daemon prunes after a tick with one journal line and one `prune` event.

use xtrakit_sync::domain::now_utc;
use xtrakit_sync::store::{PruneBefore, Store, PRUNE_BATCH};

use crate::helpers::{eventually, try_scalar, write_config, Daemon, TestApp, NEW_YEAR};

const OLD: &str = "2020-01-01 00:00:00";
/// More than two batches of each.
const OLD_ROWS: i64 = 2 * PRUNE_BATCH + 100;
/// The old run that old history rows point at.
const RUN_WITH_HISTORY: i64 = 7;

/// An app whose database holds `OLD_ROWS` old runs and events (made before its one real
/// sync, so the real run is the newest) and old history rows on one old run.
async fn app_with_old_rows() -> TestApp {
    let app = crate::helpers::spawn_app(5).await;
    Store::open(&app.database.location)
        .await
        .expect("store opens")
        .close()
        .await;
    let pool = app.db().await;
    exec(
        &pool,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {OLD_ROWS}) \
         INSERT INTO sync_runs (started_at, finished_at, trigger, mode, status) \
         SELECT '{OLD}', '{OLD}', 'schedule', 'incremental', 'success' FROM n"
        ),
    )
    .await;
    exec(
        &pool,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {OLD_ROWS}) \
         INSERT INTO sync_log (at, level, event, message) \
         SELECT '{OLD}', 'warn', 'retry', 'old' FROM n"
        ),
    )
    .await;
    pool.close().await;
    let report = app.sync().await;
    assert!(report.error.is_none(), "{:?}", report.error);
    let pool = app.db().await;
    exec(&pool, &format!(
        "INSERT INTO customer_group_history (group_id, sync_run_id, change, recorded_at) \
         VALUES (1, {RUN_WITH_HISTORY}, 'update', '{OLD}'), (2, {RUN_WITH_HISTORY}, 'update', '{OLD}')"
    ))
    .await;
    pool.close().await;
    app
}

async fn exec(pool: &sqlx::AnyPool, sql: &str) {
    sqlx::query(sql)
        .execute(pool)
        .await
        .expect("statement runs");
}

fn days_ago(days: i64) -> chrono::NaiveDateTime {
    now_utc() - chrono::TimeDelta::days(days)
}

#[tokio::test]
async fn old_events_and_runs_go_in_batches_while_history_and_groups_stay() {
    let app = app_with_old_rows().await;
    let groups = app.scalar("SELECT count(*) FROM customer_groups").await;
    let new_events = app
        .scalar(&format!("SELECT count(*) FROM sync_log WHERE at > '{OLD}'"))
        .await;
    let store = Store::open(&app.database.location)
        .await
        .expect("store opens");

    let before = PruneBefore {
        log: days_ago(180),
        history: None,
    };
    let pruned = store.prune(before).await.expect("prune");

    assert_eq!(pruned.sync_log, OLD_ROWS as u64);
    // Kept: the run history points at, and the newest successful incremental run.
    assert_eq!(pruned.sync_runs, OLD_ROWS as u64 - 2);
    assert_eq!(pruned.history, 0);
    assert_eq!(
        app.scalar("SELECT count(*) FROM sync_log").await,
        new_events
    );
    let runs: Vec<i64> = sqlx::query_scalar("SELECT id FROM sync_runs ORDER BY id")
        .fetch_all(&app.db().await)
        .await
        .expect("runs");
    assert_eq!(runs, vec![RUN_WITH_HISTORY, OLD_ROWS, OLD_ROWS + 1]);
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_group_history")
            .await,
        5 + 2
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_groups").await,
        groups
    );

    let with_history = PruneBefore {
        log: days_ago(180),
        history: Some(days_ago(30)),
    };
    let pruned = store.prune(with_history).await.expect("second prune");

    assert_eq!(
        (pruned.history, pruned.sync_runs, pruned.sync_log),
        (2, 1, 0)
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_group_history")
            .await,
        5
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_groups").await,
        groups
    );
    store.close().await;
}

#[tokio::test]
async fn the_daemon_prunes_after_its_first_tick_with_one_line_and_one_event() {
    let app = app_with_old_rows().await;
    let config = write_config(&app, "retention_days = 30\nhistory_retention_days = 30\n");
    let config = config.display().to_string();

    let mut daemon = Daemon::start(&app, NEW_YEAR, &["--config", &config], &[]);
    let event = "SELECT count(*) FROM sync_log WHERE event = 'prune'";
    eventually("the prune event", || async {
        try_scalar(&app, event).await.filter(|n| *n >= 1)
    })
    .await;
    daemon.sigterm_and_expect_exit_0().await;

    assert_eq!(app.scalar(event).await, 1);
    let log = daemon.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("pruned ")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains(&format!("pruned {OLD_ROWS} sync_log events"))
            && lines[0].contains("2 history rows older than 30 days"),
        "{}",
        lines[0]
    );
    let detail = app.event_details("prune").await;
    assert_eq!(detail[0]["sync_runs"], OLD_ROWS);
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM sync_runs WHERE started_at = '{OLD}'"
        ))
        .await,
        0
    );
    assert_eq!(app.scalar("SELECT count(*) FROM customer_groups").await, 5);
}
