//! The state tools through the real binary: `state` shows, `state reset` forces a full run,
//! `state set-watermark` moves the next incremental start, both logged and refused while a
//! sync holds the lock; `changes --run N` lists what a run did.

use crate::helpers::{
    assert_exit, spawn_app, stderr, stdout, synced_app_with_pending_change, TestApp,
};

async fn synced(groups: usize) -> TestApp {
    let app = spawn_app(groups).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    app.api.clear_requests();
    app
}

#[tokio::test]
async fn state_shows_each_scopes_watermark_and_last_runs() {
    let app = synced(4).await;
    let watermark = app.watermark().await.expect("a watermark");

    let out = app.run_binary(&["state"], &[]).await;

    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.starts_with("scope all\n"), "{text}");
    assert!(
        text.contains(&format!("watermark:      {watermark}")),
        "{text}"
    );
    assert!(
        text.contains("last runs (newest first):\n    #1 "),
        "{text}"
    );
    let json = app.run_binary(&["state", "--json"], &[]).await;
    let value: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!(value[0]["watermark"], watermark.as_str());
    assert_eq!(value[0]["runs"][0]["mode"], "full");
}

#[tokio::test]
async fn reset_makes_the_next_run_full_and_is_logged() {
    let app = synced(4).await;
    let watermark = app.watermark().await.expect("a watermark");

    let out = app
        .run_binary(&["state", "reset", "--scope", "all"], &[])
        .await;

    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("scope all: watermark cleared (was {watermark}); its next run is full\n")
    );
    assert_eq!(app.watermark().await, None);
    let details = app.event_details("state_reset").await;
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["watermark_before"], watermark.as_str());
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    assert_eq!(
        app.text("SELECT mode FROM sync_runs ORDER BY id DESC LIMIT 1")
            .await
            .as_deref(),
        Some("full")
    );
}

#[tokio::test]
async fn set_watermark_moves_where_the_next_incremental_run_asks_from() {
    let app = synced(4).await;

    let args = [
        "state",
        "set-watermark",
        "--scope",
        "all",
        "2024-03-10 12:00:00",
    ];
    let out = app.run_binary(&args, &[]).await;

    assert_exit(&out, 0);
    assert_eq!(
        app.watermark().await.as_deref(),
        Some("2024-03-10 12:00:00")
    );
    assert_eq!(
        app.event_details("watermark_set").await[0]["watermark_after"],
        "2024-03-10 12:00:00"
    );
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    let first = app.api.requests().remove(0);
    assert_eq!(
        first.query_value("updated_at"),
        Some("2024-03-09"),
        "lookback_days = 1"
    );
}

#[tokio::test]
async fn state_changes_are_refused_while_a_sync_holds_the_lock() {
    let app = synced(2).await;
    let watermark = app.watermark().await;
    let lock = xtrakit_sync::lock::try_acquire(&app.db_path)
        .expect("lock file")
        .expect("lock free");

    for args in [
        &["state", "reset", "--scope", "all"][..],
        &["state", "set-watermark", "--scope", "all", "2024-01-01"][..],
    ] {
        let out = app.run_binary(args, &[]).await;
        assert_exit(&out, 4);
        let err = stderr(&out);
        assert!(
            err.contains("a sync holds") && err.contains(".lock"),
            "{err}"
        );
    }
    drop(lock);
    assert_eq!(app.watermark().await, watermark, "nothing changed");
    assert_eq!(app.event_details("state_reset").await.len(), 0);
}

#[tokio::test]
async fn a_scope_that_never_ran_or_a_bad_scope_is_refused() {
    let app = synced(2).await;
    let out = app
        .run_binary(&["state", "reset", "--scope", "7"], &[])
        .await;
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("scope business_code=7 has no state yet"),
        "{}",
        stderr(&out)
    );
    let out = app
        .run_binary(&["state", "reset", "--scope", "seven"], &[])
        .await;
    assert_exit(&out, 2);
    let out = app
        .run_binary(
            &["state", "set-watermark", "--scope", "all", "yesterday"],
            &[],
        )
        .await;
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("is not a UTC time"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn changes_lists_what_a_run_inserted_and_updated_as_table_and_json() {
    let app = synced_app_with_pending_change(3).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);

    let out = app.run_binary(&["changes", "--run", "2"], &[]).await;

    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with("run #2 all once incremental success started "),
        "{text}"
    );
    assert!(
        text.contains(": 1 inserted, 2 updated, 0 deleted, 0 restored\n"),
        "{text}"
    );
    let rows: Vec<&str> = text.lines().skip(2).collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(
        rows.iter()
            .any(|r| r.starts_with("insert") && r.contains("1000")),
        "{text}"
    );
    assert!(rows.iter().any(|r| r.contains("Pending")), "{text}");

    let json = app
        .run_binary(&["changes", "--run", "2", "--json"], &[])
        .await;
    let value: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!(value["run"]["id"], 2);
    let changes = value["changes"].as_array().expect("changes");
    let kinds: Vec<&str> = changes
        .iter()
        .filter_map(|c| c["change"].as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "update").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "insert").count(),
        1,
        "{kinds:?}"
    );

    let missing = app.run_binary(&["changes", "--run", "99"], &[]).await;
    assert_exit(&missing, 2);
    assert!(
        stderr(&missing).contains("no run 99"),
        "{}",
        stderr(&missing)
    );
}
