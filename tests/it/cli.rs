//! The real binary: exit codes of the README's Configuration and Commands sections, and what each command leaves in the database.

use crate::fake_api::Fault;
use crate::helpers::{
    assert_exit, finish, send_signal, server_error, spawn_app, stderr, stdout,
    synced_app_with_pending_change, wait_until, write_config, KEY,
};
use xtrakit_sync::domain::ApiKey;

/// Retries that fail fast: two attempts, milliseconds apart.
const FAST_RETRIES: &str = "max_retries = 1\nretry_base_delay_ms = 5\n";

#[tokio::test]
async fn once_stores_every_group_and_exits_0() {
    let app = spawn_app(12).await;

    let out = app.run_binary(&["--once"], &[]).await;

    assert_exit(&out, 0);
    assert_eq!(app.live_groups().await, 12);
    assert_eq!(
        app.text("SELECT trigger || ' ' || mode || ' ' || status FROM sync_runs")
            .await
            .as_deref(),
        Some("once full success")
    );
    assert_eq!(app.scalar("SELECT inserted FROM sync_runs").await, 12);
    assert!(app.watermark().await.is_some());
    let log = stderr(&out);
    assert!(log.contains("sync succeeded"), "{log}");
}

#[tokio::test]
async fn auth_failure_exits_3_with_an_auth_failure_row_and_data_untouched() {
    let app = synced_app_with_pending_change(5).await;
    let (rows, watermark) = (app.snapshot().await, app.watermark().await);
    app.api.set_api_key(Some("some-other-key"));

    let out = app.run_binary(&["--once"], &[]).await;

    assert_exit(&out, 3);
    assert_eq!(app.last_run_status().await, "auth_failed");
    assert_eq!(app.scalar("SELECT count(*) FROM auth_failures").await, 1);
    assert_eq!(
        app.scalar("SELECT http_status FROM auth_failures").await,
        401
    );
    assert_eq!(
        app.text("SELECT message FROM auth_failures")
            .await
            .as_deref(),
        Some("Unauthorized: Invalid API Key")
    );
    let fingerprint = ApiKey::new(KEY).unwrap().fingerprint();
    assert_eq!(
        app.text("SELECT key_fingerprint FROM auth_failures").await,
        Some(fingerprint)
    );
    assert_eq!(app.api.request_count(), 1, "an auth failure is not retried");
    assert_eq!(app.snapshot().await, rows);
    assert_eq!(app.watermark().await, watermark);
}

#[tokio::test]
async fn missing_api_key_exits_2_without_creating_the_database() {
    let app = spawn_app(3).await;
    let mut cmd = app.command();
    cmd.arg("--once").env_remove("XTRAKIT_API_KEY");

    let out = cmd.output().await.expect("binary runs");

    assert_exit(&out, 2);
    let log = stderr(&out);
    assert!(log.contains("no API key"), "{log}");
    assert!(log.contains("XTRAKIT_API_KEY"), "{log}");
    assert!(!app.db_path.exists(), "no database is created");
    assert_eq!(app.api.request_count(), 0);
}

#[tokio::test]
async fn plain_http_base_url_to_a_remote_host_exits_2_before_anything_happens() {
    let app = spawn_app(3).await;

    let out = app
        .run_binary(&["--once"], &[("XTRAKIT_BASE_URL", "http://example.com")])
        .await;

    assert_exit(&out, 2);
    let log = stderr(&out);
    assert!(log.contains("base_url"), "{log}");
    assert!(log.contains("allow_insecure_http"), "{log}");
    assert!(!app.db_path.exists(), "no database is created");
}

#[tokio::test]
async fn unknown_key_in_the_config_file_exits_2_naming_the_key() {
    let app = spawn_app(3).await;
    let config = write_config(&app, "max_retries = 1\nshedule = \"*/5 * * * *\"\n");
    let config = config.to_str().unwrap();

    let out = app.run_binary(&["--once", "--config", config], &[]).await;

    assert_exit(&out, 2);
    let log = stderr(&out);
    assert!(log.contains("shedule"), "{log}");
    assert!(log.contains(config), "the file is named: {log}");
    assert!(!app.db_path.exists(), "no database is created");
    assert_eq!(app.api.request_count(), 0);
}

#[tokio::test]
async fn persistent_server_errors_exit_1_with_a_failed_run_and_nothing_lost() {
    let app = synced_app_with_pending_change(8).await;
    let (rows, watermark) = (app.snapshot().await, app.watermark().await);
    for _ in 0..4 {
        app.api.push_fault(server_error());
    }
    let config = write_config(&app, FAST_RETRIES);

    let out = app
        .run_binary(&["--once", "--config", config.to_str().unwrap()], &[])
        .await;

    assert_exit(&out, 1);
    assert_eq!(app.last_run_status().await, "failed");
    assert_eq!(
        app.scalar("SELECT http_status FROM sync_runs ORDER BY id DESC LIMIT 1")
            .await,
        500
    );
    assert_eq!(app.api.request_count(), 2, "one try and one retry");
    assert_eq!(app.events("retry").await, 1);
    assert_eq!(app.events("http_error").await, 1);
    assert_eq!(app.snapshot().await, rows);
    assert_eq!(app.watermark().await, watermark);
}

#[tokio::test]
async fn invalid_cron_in_schedule_flag_exits_2() {
    let app = spawn_app(3).await;

    let out = app
        .run_binary(&["--once", "--schedule", "every five minutes"], &[])
        .await;

    assert_exit(&out, 2);
    let log = stderr(&out);
    assert!(log.contains("schedule"), "{log}");
    assert!(log.contains("--schedule"), "the source is named: {log}");
    assert!(!app.db_path.exists(), "no database is created");
}

#[tokio::test]
async fn status_after_a_sync_shows_the_scope_watermark_and_counts() {
    let app = spawn_app(7).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    let watermark = app.watermark().await.unwrap();

    let out = app.run_binary(&["status"], &[]).await;

    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("\n  all\n"), "the unfiltered scope: {text}");
    assert!(
        text.contains(&format!("watermark:      {watermark}")),
        "{text}"
    );
    assert!(text.contains("groups: 7 live, 0 deleted"), "{text}");
    assert!(text.contains("once full success"), "{text}");
    assert!(text.contains("inserted=7"), "{text}");
}

#[tokio::test]
async fn status_json_has_scopes_recent_runs_and_counts() {
    let app = spawn_app(4).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    app.api.set_api_key(Some("some-other-key"));
    assert_exit(&app.run_binary(&["--once"], &[]).await, 3);

    let out = app.run_binary(&["status", "--json"], &[]).await;

    assert_exit(&out, 0);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status is JSON");
    let scopes = status["scopes"].as_array().expect("scopes");
    assert_eq!(scopes.len(), 1, "{status:#}");
    assert_eq!(scopes[0]["scope"], "all");
    assert_eq!(
        scopes[0]["watermark"].as_str(),
        app.watermark().await.as_deref()
    );
    assert_eq!(scopes[0]["last_run"]["status"], "auth_failed");
    let runs = status["recent_runs"].as_array().expect("recent_runs");
    let statuses: Vec<&str> = runs.iter().filter_map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["auth_failed", "success"], "newest first");
    assert_eq!(status["counts"]["live_groups"], 4);
    assert_eq!(status["counts"]["sync_runs"], 2);
    assert_eq!(status["counts"]["auth_failures"], 1);
}

#[tokio::test]
async fn status_on_a_missing_database_exits_4_without_creating_it() {
    let app = spawn_app(0).await;

    let out = app.run_binary(&["status"], &[]).await;

    assert_exit(&out, 4);
    let log = stderr(&out);
    assert!(log.contains("no database"), "{log}");
    assert!(!app.db_path.exists());
}

#[tokio::test]
async fn migrate_creates_the_tables_and_views_without_syncing() {
    let app = spawn_app(3).await;

    let out = app.run_binary(&["migrate"], &[]).await;

    assert_exit(&out, 0);
    let pool = app.db().await;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT type || ' ' || name FROM sqlite_master \
         WHERE type IN ('table', 'view') AND name NOT LIKE '\\_%' ESCAPE '\\' \
         AND name NOT LIKE 'sqlite%' ORDER BY type, name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    for expected in [
        "table customer_group_history",
        "table customer_groups",
        "table sync_log",
        "table sync_runs",
        "table sync_state",
        "view active_customer_groups",
        "view auth_failures",
        "view latest_sync_runs",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    assert_eq!(app.scalar("SELECT count(*) FROM sync_runs").await, 0);
    assert_eq!(app.scalar("SELECT count(*) FROM customer_groups").await, 0);
    assert_eq!(app.api.request_count(), 0, "migrate does not sync");
}

#[tokio::test]
async fn check_config_prints_each_setting_with_its_source() {
    let app = spawn_app(0).await;
    let config = write_config(&app, "max_retries = 2\nlookback_days = 3\n");
    let config = config.to_str().unwrap();

    let out = app
        .run_binary(
            &["check-config", "--config", config, "--business-code", "7"],
            &[],
        )
        .await;

    assert_exit(&out, 0);
    let text = stdout(&out);
    let line = |key: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} line in:\n{text}"))
            .to_owned()
    };
    let database = line("database");
    assert!(
        database.contains(app.db_path.to_str().unwrap()) && database.ends_with("# env XTRAKIT_DB"),
        "{database}"
    );
    let codes = line("business_codes");
    assert!(
        codes.starts_with("business_codes = [7]") && codes.ends_with("# flag --business-code"),
        "{codes}"
    );
    let retries = line("max_retries");
    assert!(
        retries.starts_with("max_retries = 2") && retries.ends_with(&format!("# file {config}")),
        "{retries}"
    );
    let wait = line("lock_wait_secs");
    assert!(
        wait.starts_with("lock_wait_secs = 60") && wait.ends_with("# default"),
        "{wait}"
    );
    let fingerprint = ApiKey::new(KEY).unwrap().fingerprint();
    assert!(
        text.contains(&format!(
            "# api key: {fingerprint} (from env XTRAKIT_API_KEY)"
        )),
        "{text}"
    );
    let reparsed: Result<toml::Value, _> = toml::from_str(&text);
    assert!(reparsed.is_ok(), "the report is valid TOML: {text}");
    assert!(!app.db_path.exists(), "check-config touches no database");
}

#[tokio::test]
async fn database_in_a_missing_directory_exits_4_before_any_request() {
    let app = spawn_app(3).await;
    let db = app.dir.path().join("no").join("such").join("dir.db");

    let out = app
        .run_binary(&["--once"], &[("XTRAKIT_DB", db.to_str().unwrap())])
        .await;

    assert_exit(&out, 4);
    let log = stderr(&out);
    assert!(
        log.contains(db.to_str().unwrap()),
        "the path is named: {log}"
    );
    assert!(!db.exists());
    assert_eq!(app.api.request_count(), 0);
}

#[tokio::test]
async fn database_file_that_is_not_sqlite_exits_4_and_is_left_alone() {
    let app = spawn_app(3).await;
    let garbage = b"this is a spreadsheet, not a database\n".repeat(200);
    std::fs::write(&app.db_path, &garbage).unwrap();

    let out = app.run_binary(&["--once"], &[]).await;

    assert_exit(&out, 4);
    assert_eq!(std::fs::read(&app.db_path).unwrap(), garbage);
    assert_eq!(app.api.request_count(), 0);
}

/// `--once` stuck in a slow response, then `signal`: exit 130, run `interrupted`, nothing moved.
async fn signal_interrupts_a_slow_once(signal: &str) {
    let app = synced_app_with_pending_change(6).await;
    let (rows, watermark) = (app.snapshot().await, app.watermark().await);
    app.api.push_fault(Fault::Slow {
        delay: std::time::Duration::from_secs(5),
    });
    let child = app.spawn_binary(&["--once"], &[]);
    let pid = child.id().expect("child pid");
    wait_until("the request to reach the fake", || {
        app.api.request_count() > 0
    })
    .await;

    send_signal(pid, signal).await;
    let out = finish(child).await;

    assert_exit(&out, 130);
    assert_eq!(app.last_run_status().await, "interrupted");
    assert_eq!(
        app.scalar("SELECT count(*) FROM sync_runs WHERE finished_at IS NULL")
            .await,
        0
    );
    assert_eq!(app.snapshot().await, rows);
    assert_eq!(app.watermark().await, watermark);
}

#[tokio::test]
async fn sigint_during_a_slow_response_exits_130_and_marks_the_run_interrupted() {
    signal_interrupts_a_slow_once("INT").await;
}

#[tokio::test]
async fn sigterm_during_a_slow_response_exits_130_and_marks_the_run_interrupted() {
    signal_interrupts_a_slow_once("TERM").await;
}

/// Defect 7: with a watermark stored, `lookback_days = 100000000` overflowed the date
/// arithmetic of the incremental filter, exit 101 with the run left `running`.
#[tokio::test]
async fn huge_lookback_days_is_a_config_error_not_a_panic() {
    let app = synced_app_with_pending_change(5).await;
    let (rows, watermark) = (app.snapshot().await, app.watermark().await);
    let runs = app.scalar("SELECT count(*) FROM sync_runs").await;
    let requests = app.api.request_count();
    let config = write_config(&app, "lookback_days = 100000000\n");
    let config = config.to_str().unwrap();

    let out = app.run_binary(&["--once", "--config", config], &[]).await;

    assert_exit(&out, 2);
    let log = stderr(&out);
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(log.lines().count(), 1, "one line: {log}");
    assert!(
        log.contains(&format!("lookback_days (file {config})")),
        "key and source named: {log}"
    );
    assert!(log.contains("between 0 and 3650"), "range named: {log}");
    assert_eq!(app.api.request_count(), requests, "no request made");
    assert_eq!(app.scalar("SELECT count(*) FROM sync_runs").await, runs);
    assert_eq!(app.snapshot().await, rows);
    assert_eq!(app.watermark().await, watermark);
}

#[tokio::test]
async fn out_of_range_setting_exits_2_without_creating_the_database() {
    let app = spawn_app(3).await;
    let config = write_config(&app, "max_retries = 101\n");

    let out = app
        .run_binary(&["--once", "--config", config.to_str().unwrap()], &[])
        .await;

    assert_exit(&out, 2);
    let log = stderr(&out);
    assert!(
        log.contains("max_retries") && log.contains("between 0 and 100"),
        "{log}"
    );
    assert!(!app.db_path.exists(), "no database is created");
    assert_eq!(app.api.request_count(), 0);
}

#[tokio::test]
async fn usage_error_exits_2_with_one_line() {
    let app = spawn_app(0).await;

    let out = app.run_binary(&["--no-such-flag"], &[]).await;

    assert_exit(&out, 2);
    let log = stderr(&out);
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(
        log.contains("'--no-such-flag'") && log.contains("--help"),
        "{log}"
    );
    assert!(!app.db_path.exists());
}
