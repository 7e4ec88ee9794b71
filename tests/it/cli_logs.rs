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

/// `--once` with one 503, its stderr a pipe that `JOURNAL_STREAM` names (as systemd sets it
/// for a service whose output goes to the journal) or, with `matching` false, names another.
async fn once_as_a_service(app: &TestApp, matching: bool) -> String {
    app.api.push_fault(server_error());
    let config = write_config(app, FAST_RETRIES);
    let (status, log) = run_as_a_service(app, config.to_str().expect("utf-8"), matching).await;
    assert!(status.success(), "{status}\n{log}");
    log
}

/// `--once --config CONFIG` with stderr as described at [`once_as_a_service`]; its stderr.
async fn run_as_a_service(
    app: &TestApp,
    config: &str,
    matching: bool,
) -> (std::process::ExitStatus, String) {
    use std::os::unix::fs::MetadataExt;

    let (mut reader, writer) = std::io::pipe().expect("a pipe");
    let meta = std::fs::File::from(std::os::fd::OwnedFd::from(
        writer.try_clone().expect("pipe clone"),
    ))
    .metadata()
    .expect("fstat of the pipe");
    let ino = if matching { meta.ino() } else { meta.ino() + 1 };
    let mut cmd = app.command();
    cmd.args(["--once", "--config", config])
        .env("JOURNAL_STREAM", format!("{}:{ino}", meta.dev()))
        .stdout(std::process::Stdio::null())
        .stderr(writer);
    let reading = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut reader, &mut text).map(|_| text)
    });
    let status = cmd.status().await.expect("binary runs");
    drop(cmd);
    let log = reading
        .join()
        .expect("reader thread")
        .expect("stderr reads");
    (status, log)
}

#[tokio::test]
async fn under_the_journal_each_line_carries_its_priority_and_no_timestamp() {
    let app = spawn_app(5).await;
    let log = once_as_a_service(&app, true).await;
    let retry = log.lines().find(|l| l.contains("retry 1 of 2"));
    assert!(retry.is_some_and(|l| l.starts_with("<4>")), "{log}");
    let done = log.lines().find(|l| l.contains("sync succeeded"));
    assert!(done.is_some_and(|l| l.starts_with("<6>")), "{log}");
    for line in log.lines() {
        let rest = line.get(3..).unwrap_or_default().trim_start();
        assert!(line.starts_with('<'), "no priority: {line}");
        assert!(
            !rest.starts_with(|c: char| c.is_ascii_digit()),
            "a timestamp: {line}"
        );
    }
}

#[tokio::test]
async fn a_journal_stream_that_is_not_our_stderr_leaves_the_usual_lines() {
    let app = spawn_app(5).await;
    let log = once_as_a_service(&app, false).await;
    let done = log.lines().find(|l| l.contains("sync succeeded"));
    assert!(done.is_some_and(|l| l.starts_with("20")), "{log}");
    assert!(!log.contains("<6>"), "{log}");
}

#[tokio::test]
async fn under_the_journal_a_configuration_error_has_the_error_priority() {
    let app = spawn_app(1).await;
    let config = write_config(&app, "schedul = \"typo\"\n");
    let (status, log) = run_as_a_service(&app, config.to_str().expect("utf-8"), true).await;
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(
        log.starts_with("<3>xtrakit-sync: configuration error: "),
        "{log}"
    );
}
