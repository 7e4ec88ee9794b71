//! What the binary logs, read as an operator reads it: no Rust debug text in either format,
//! no SQL at `RUST_LOG=debug`, one short line per retry, per-page progress only on request.

use crate::helpers::{assert_exit, server_error, spawn_app, stderr, write_config, TestApp};

/// Retries that wait milliseconds, so a retry costs the test nothing.
const FAST_RETRIES: &str = "max_retries = 2\nretry_base_delay_ms = 5\n";

/// `--once` with one 503 before the first page, at the given `RUST_LOG` and log format.
async fn once_with_a_retry(app: &TestApp, rust_log: &str, format: &str) -> String {
    app.api.push_fault(server_error());
    let config = write_config(app, FAST_RETRIES);
    let config = config.to_str().expect("utf-8 temp path");
    let args = ["--once", "--config", config, "--log-format", format];
    let out = app.run_binary(&args, &[("RUST_LOG", rust_log)]).await;
    assert_exit(&out, 0);
    stderr(&out)
}

/// Markers of text meant for developers: `Option` and struct `Debug` output.
fn assert_no_debug_text(log: &str) {
    for marker in ["Some(", "None,", "PageCounts", "{ ", "\\\""] {
        assert!(!log.contains(marker), "{marker:?} in:\n{log}");
    }
}

#[tokio::test]
async fn the_programs_logs_in_text_and_json_carry_no_debug_text() {
    let app = spawn_app(5).await;
    for format in ["text", "json"] {
        let log = once_with_a_retry(&app, "xtrakit_sync=debug", format).await;
        assert!(log.contains("sync succeeded"), "{log}");
        assert_no_debug_text(&log);
    }
}

#[tokio::test]
async fn debug_for_every_crate_shows_no_sql() {
    let app = spawn_app(5).await;
    for format in ["text", "json"] {
        let log = once_with_a_retry(&app, "debug", format).await;
        for sql in ["SELECT ", "INSERT ", "db.statement", "slow statement"] {
            assert!(!log.contains(sql), "{format}: {sql:?} in:\n{log}");
        }
    }
}

#[tokio::test]
async fn a_retry_is_one_short_line_with_status_attempt_delay_and_the_url_once() {
    let app = spawn_app(5).await;
    let log = once_with_a_retry(&app, "info", "text").await;
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("retry 1 of 2")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    let line = lines[0];
    assert!(line.contains("500"), "{line}");
    assert!(line.contains(" ms"), "the delay: {line}");
    assert_eq!(line.matches("/api/v1/customer-groups").count(), 1, "{line}");
    assert!(line.len() < 220, "{} characters: {line}", line.len());
}

#[tokio::test]
async fn per_page_progress_shows_at_debug_for_the_program_only() {
    let app = spawn_app(5).await;
    let quiet = once_with_a_retry(&app, "info", "text").await;
    assert!(!quiet.contains("page written"), "{quiet}");
    let progress = once_with_a_retry(&app, "xtrakit_sync=debug", "text").await;
    assert!(progress.contains("page written"), "{progress}");
    assert!(!progress.contains("starting new connection"), "{progress}");
}

#[tokio::test]
async fn each_retry_row_carries_the_time_it_happened() {
    let app = spawn_app(3).await;
    let wait_a_second = crate::fake_api::Fault::Status {
        status: 503,
        body: r#"{"status":503,"error":"Service Unavailable"}"#.into(),
        retry_after: Some("1".into()),
    };
    app.api.push_fault(wait_a_second.clone());
    app.api.push_fault(wait_a_second);

    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);

    let pool = app.db().await;
    let times: Vec<String> =
        sqlx::query_scalar("SELECT at FROM sync_log WHERE event = 'retry' ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("retry rows");
    let (started, finished): (String, String) =
        sqlx::query_as("SELECT started_at, finished_at FROM sync_runs")
            .fetch_one(&pool)
            .await
            .expect("run row");
    pool.close().await;
    assert_eq!(times.len(), 2, "{times:?}");
    assert!(
        times[0] < times[1],
        "a second apart, not one write time: {times:?}"
    );
    assert!(
        started <= times[0] && times[1] <= finished,
        "{started} {times:?} {finished}"
    );
}
