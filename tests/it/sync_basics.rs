//! The everyday path: a first full sync, incremental runs, no-change runs.

use crate::helpers::{assert_exit, spawn_app, stderr, Ask};
use xtrakit_sync::domain::{Mode, RunStatus};

#[tokio::test]
async fn first_sync_is_full_and_stores_every_group() {
    let app = spawn_app(25).await;

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.mode, Mode::Full);
    assert_eq!(app.live_groups().await, 25);
    assert_eq!(app.scalar("SELECT inserted FROM sync_runs").await, 25);
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_group_history WHERE change = 'insert'")
            .await,
        25
    );
    let first = app.api.requests().remove(0);
    assert_eq!(
        first.query_value("updated_at"),
        None,
        "a first run is unfiltered"
    );
    assert_eq!(first.authorization.as_deref(), Some("Bearer test-key"));
    assert!(app.watermark().await.is_some());
}

#[tokio::test]
async fn stored_row_keeps_the_record_exactly_as_sent() {
    let app = spawn_app(1).await;

    app.sync().await;

    let raw = app
        .text("SELECT raw_json FROM customer_groups WHERE id = 1")
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(value["id"], 1);
    assert!(
        value.get("tier").is_some(),
        "unknown fields are kept: {raw}"
    );
    let name = app
        .text("SELECT group_name FROM customer_groups WHERE id = 1")
        .await;
    assert_eq!(name.as_deref(), value["group_name"].as_str());
    let updated = app
        .text("SELECT updated_at FROM customer_groups WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(updated, value["updated_at"].as_str().unwrap());
}

#[tokio::test]
async fn incremental_run_sends_the_watermark_date_less_lookback_and_counts_changes() {
    let app = spawn_app(10).await;
    app.sync().await;
    let watermark = app.watermark().await.unwrap();
    app.api.update_groups(&[3, 4], "2026-11-20 10:00:00");
    app.api.put_group(11, 1, "Brand new", "2026-11-20 11:00:00");
    app.api.clear_requests();

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.mode, Mode::Incremental);
    let sent = app.api.requests().remove(0);
    let expected = chrono::NaiveDate::parse_from_str(&watermark[..10], "%Y-%m-%d").unwrap()
        - chrono::Duration::days(1);
    assert_eq!(
        sent.query_value("updated_at"),
        Some(expected.to_string().as_str())
    );
    let (inserted, updated) = (report.tally.inserted, report.tally.updated);
    assert_eq!((inserted, updated), (1, 2));
    assert_eq!(app.live_groups().await, 11);
    let (run_inserted, run_updated, run_unchanged): (i64, i64, i64) = sqlx::query_as(
        "SELECT inserted, updated, unchanged FROM sync_runs ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db().await)
    .await
    .unwrap();
    assert_eq!((run_inserted, run_updated), (1, 2));
    assert_eq!(run_unchanged as u64, report.tally.received - 3);
}

#[tokio::test]
async fn run_with_nothing_new_writes_no_group_row() {
    let app = spawn_app(50).await;
    app.sync().await;
    let before = app.snapshot().await;
    let history_before = app
        .scalar("SELECT count(*) FROM customer_group_history")
        .await;

    let report = app
        .sync_with(Ask {
            full: true,
            ..Ask::default()
        })
        .await;

    assert_eq!(report.status, RunStatus::Success);
    assert_eq!(report.tally.unchanged, 50);
    assert_eq!(
        report.tally.inserted + report.tally.updated + report.tally.restored,
        0
    );
    assert_eq!(
        app.snapshot().await,
        before,
        "last_changed_at and raw_json untouched"
    );
    let history_after = app
        .scalar("SELECT count(*) FROM customer_group_history")
        .await;
    assert_eq!(history_after, history_before);
}

#[tokio::test]
async fn watermark_never_passes_the_run_start() {
    let app = spawn_app(3).await;
    app.api
        .put_group(99, 1, "From the future", "2099-01-01 00:00:00");

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success);
    let watermark = app.watermark().await.unwrap();
    let started = app.text("SELECT started_at FROM sync_runs").await.unwrap();
    assert!(
        watermark <= started,
        "watermark {watermark} is after the run start {started}"
    );
    assert_eq!(app.live_groups().await, 4, "the future record is stored");
}

#[tokio::test]
async fn an_updated_at_far_past_the_run_start_is_logged_as_a_clock_problem() {
    let app = spawn_app(3).await;
    app.api
        .put_group(99, 1, "From the future", "2099-01-01 00:00:00");

    let out = app.run_binary(&["--once"], &[]).await;

    assert_exit(&out, 0);
    let log = stderr(&out);
    let line = log
        .lines()
        .find(|l| l.contains("the API sent updated_at 2099-01-01 00:00:00"))
        .unwrap_or_else(|| panic!("no clock warning in:\n{log}"));
    assert!(line.contains("Check this host's clock"), "{line}");
    let watermark = app.watermark().await.expect("a watermark");
    assert!(watermark.as_str() < "2099", "{watermark}");
}

#[tokio::test]
async fn updated_at_values_before_the_run_start_say_nothing_about_clocks() {
    let app = spawn_app(3).await;

    let out = app.run_binary(&["--once"], &[]).await;

    assert_exit(&out, 0);
    assert!(!stderr(&out).contains("Check this host's clock"));
}

#[tokio::test]
async fn an_api_clock_an_hour_ahead_is_warned_about_once() {
    let app = spawn_app(3).await;
    app.api.set_clock_skew(3600);

    let out = app.run_binary(&["--once"], &[]).await;

    assert_exit(&out, 0);
    let log = stderr(&out);
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("the API's clock"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("ahead of this host's"),
        "{}",
        warnings[0]
    );
}

#[tokio::test]
async fn an_api_clock_that_agrees_is_not_mentioned() {
    let app = spawn_app(3).await;

    let out = app.run_binary(&["--once"], &[]).await;

    assert_exit(&out, 0);
    assert!(!stderr(&out).contains("the API's clock"));
}

#[tokio::test]
async fn each_history_row_holds_the_version_its_run_stored() {
    let app = spawn_app(3).await;
    app.sync().await;
    let first = app
        .text("SELECT raw_json FROM customer_groups WHERE id = 2")
        .await
        .unwrap();
    app.api.update_groups(&[2], "2026-11-20 10:00:00");

    app.sync().await;

    let versions: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT change, raw_json, updated_at FROM customer_group_history \
         WHERE group_id = 2 ORDER BY history_id",
    )
    .fetch_all(&app.db().await)
    .await
    .unwrap();
    let now = app
        .text("SELECT raw_json FROM customer_groups WHERE id = 2")
        .await
        .unwrap();
    assert_ne!(now, first, "the update changed the stored JSON");
    let expected = vec![
        ("insert".to_string(), first, versions[0].2.clone()),
        (
            "update".to_string(),
            now,
            Some("2026-11-20 10:00:00".to_string()),
        ),
    ];
    assert_eq!(versions, expected);
    assert_ne!(versions[0].2, versions[1].2);
    let per_group = app
        .scalar("SELECT count(*) FROM customer_group_history WHERE change = 'insert'")
        .await;
    assert_eq!(per_group, 3, "one insert row per group, no more");
}
