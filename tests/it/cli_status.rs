//! `status` as a health check (`--check`, `--max-age`) and its JSON verdict, through the
//! real binary over databases filled by real syncs.

use crate::helpers::{
    assert_exit, finish, server_error, spawn_app, stderr, stdout, write_config, TestApp,
};

/// A synced app whose scope last succeeded long ago.
async fn synced_long_ago() -> TestApp {
    let app = spawn_app(3).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    let pool = app.db().await;
    sqlx::query("UPDATE sync_state SET last_success_at = '2020-01-01 00:00:00'")
        .execute(&pool)
        .await
        .expect("state aged");
    pool.close().await;
    app
}

#[tokio::test]
async fn check_after_a_fresh_sync_exits_0_with_one_ok_line() {
    let app = spawn_app(3).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);

    let out = app.run_binary(&["status", "--check"], &[]).await;

    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "ok: every scope (1) succeeded within 2h\n");
}

#[tokio::test]
async fn check_of_a_stale_scope_exits_1_naming_scope_time_and_max_age() {
    let app = synced_long_ago().await;

    let out = app
        .run_binary(&["status", "--check", "--max-age", "90m"], &[])
        .await;

    assert_exit(&out, 1);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("unhealthy: scope all last succeeded 2020-01-01 00:00:00 ("),
        "{text}"
    );
    assert!(text.trim_end().ends_with("more than 1h 30m)"), "{text}");
}

#[tokio::test]
async fn check_when_every_run_failed_exits_1_with_the_last_error() {
    let app = spawn_app(3).await;
    let config = write_config(&app, "max_retries = 0\n");
    app.api.push_fault(server_error());
    let config = config.to_str().expect("utf-8");
    assert_exit(
        &app.run_binary(&["--once", "--config", config], &[]).await,
        1,
    );

    let out = app.run_binary(&["status", "--check"], &[]).await;

    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.starts_with("unhealthy: scope all never succeeded (last run failed: "),
        "{text}"
    );
    assert!(text.contains("500"), "{text}");
}

#[tokio::test]
async fn check_of_configured_scopes_names_one_that_never_ran() {
    let app = spawn_app(3).await;
    assert_exit(
        &app.run_binary(&["--once", "--business-code", "1"], &[])
            .await,
        0,
    );

    let out = app
        .run_binary(&["status", "--check", "--business-code", "1,2"], &[])
        .await;

    assert_exit(&out, 1);
    assert_eq!(
        stdout(&out),
        "unhealthy: scope business_code=2 never succeeded\n"
    );
}

#[tokio::test]
async fn json_carries_the_verdict_and_exits_non_zero_only_with_check() {
    let app = synced_long_ago().await;

    let plain = app.run_binary(&["status", "--json"], &[]).await;
    assert_exit(&plain, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&plain)).expect("JSON");
    assert_eq!(json["health"]["healthy"], false);
    assert_eq!(json["health"]["max_age_secs"], 7200);
    assert_eq!(json["health"]["scopes"][0]["scope"], "all");
    let summary = json["health"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("unhealthy: scope all last succeeded"),
        "{summary}"
    );
    assert!(
        json["scopes"].is_array(),
        "the report is still there: {json}"
    );

    let checked = app.run_binary(&["status", "--json", "--check"], &[]).await;
    assert_exit(&checked, 1);
}

#[tokio::test]
async fn a_bad_max_age_is_a_usage_error() {
    let app = spawn_app(0).await;
    let out = app
        .run_binary(&["status", "--check", "--max-age", "soon"], &[])
        .await;
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("90m, 2h or 1d"), "{err}");
}

#[tokio::test]
async fn a_new_database_shows_no_empty_header_and_counts_in_good_grammar() {
    let app = spawn_app(3).await;
    assert_exit(&app.run_binary(&["migrate"], &[]).await, 0);
    let empty = stdout(&app.run_binary(&["status"], &[]).await);
    assert!(!empty.contains("recent runs"), "{empty}");
    assert!(empty.contains("(0 auth failures)"), "{empty}");
    assert!(
        empty.contains("health: unhealthy: no sync has run yet"),
        "{empty}"
    );

    app.api.set_api_key(Some("another"));
    assert_exit(&app.run_binary(&["--once"], &[]).await, 3);
    let one = stdout(&app.run_binary(&["status"], &[]).await);
    assert!(one.contains("(1 auth failure)"), "{one}");
    assert!(one.contains("recent runs (newest first):"), "{one}");
    assert!(one.contains(" ms"), "a fast run in milliseconds: {one}");
}

#[tokio::test]
async fn a_reader_that_closes_the_pipe_early_ends_the_report_quietly() {
    let app = spawn_app(3).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);

    for command in [
        ["status", "--json"],
        ["state", "--json"],
        ["status", "--check"],
    ] {
        let mut child = app.spawn_binary(&command, &[]);
        // The reader is gone before the report is written, as `| head` is after its lines.
        drop(child.stdout.take());
        let out = finish(child).await;

        assert_exit(&out, 0);
        assert!(
            !stderr(&out).contains("panicked"),
            "{command:?}: {}",
            stderr(&out)
        );
    }
}
