//! What the API does wrong: transient failures retried, persistent ones failing the run
//! without losing anything, auth failures logged with the key's fingerprint, oversized
//! responses and cross-origin redirects refused.

use serde_json::Value;
use sha2::{Digest, Sha256};
use xtrakit_sync::domain::RunStatus;

use crate::fake_api::{FakeApi, FakeOptions, Fault};
use crate::helpers::{spawn_app, TestApp};

/// One `sync_log` row, its detail parsed.
#[derive(Debug)]
struct LogRow {
    level: String,
    http_status: Option<i64>,
    message: String,
    detail: Value,
}

/// level, http_status, message, detail as they come out of `sync_log`.
type RawLogRow = (String, Option<i64>, Option<String>, Option<String>);
/// http_status, message, key_fingerprint, url of the `auth_failures` view.
/// One row of the `auth_failures` view.
#[derive(Debug, sqlx::FromRow)]
struct AuthFailureRow {
    http_status: Option<i64>,
    message: Option<String>,
    key_fingerprint: Option<String>,
    url: Option<String>,
}

async fn log_rows(app: &TestApp, event: &str) -> Vec<LogRow> {
    let pool = app.db().await;
    let rows: Vec<RawLogRow> = sqlx::query_as(
        "SELECT level, http_status, message, detail FROM sync_log WHERE event = $1 ORDER BY id",
    )
    .bind(event)
    .fetch_all(&pool)
    .await
    .expect("sync_log rows");
    pool.close().await;
    rows.into_iter()
        .map(|(level, http_status, message, detail)| LogRow {
            level,
            http_status,
            message: message.unwrap_or_default(),
            detail: detail
                .map(|d| serde_json::from_str(&d).expect("detail is JSON"))
                .unwrap_or(Value::Null),
        })
        .collect()
}

/// The newest run row: status, http_status, error.
async fn last_run(app: &TestApp) -> (String, Option<i64>, Option<String>) {
    let pool = app.db().await;
    let row = sqlx::query_as("SELECT status, http_status, error FROM sync_runs ORDER BY id DESC")
        .fetch_one(&pool)
        .await
        .expect("a run row");
    pool.close().await;
    row
}

fn fingerprint_of(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn json_error(status: u16, error: &str) -> Fault {
    Fault::Status {
        status,
        body: format!("{{\"status\":{status},\"error\":\"{error}\"}}"),
        retry_after: None,
    }
}

/// A first sync whose first request meets `fault`: it must be retried once, then the run
/// succeeds with every group stored exactly once. Returns the app and the one retry event.
async fn first_request_fails_then_run_succeeds(fault: Fault) -> (TestApp, LogRow) {
    let app = spawn_app(5).await;
    app.api.push_fault(fault);

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(app.api.request_count(), 2, "one failed attempt, one retry");
    assert_eq!(app.live_groups().await, 5);
    assert_eq!(app.scalar("SELECT count(*) FROM sync_runs").await, 1);
    let (status, http_status, error) = last_run(&app).await;
    assert_eq!(
        (status.as_str(), http_status, error),
        ("success", None, None)
    );
    let counted: (i64, i64) = sqlx::query_as("SELECT received, inserted FROM sync_runs")
        .fetch_one(&app.db().await)
        .await
        .expect("run counters");
    assert_eq!(counted, (5, 5), "the failed attempt counted nothing");
    assert!(app.watermark().await.is_some());
    let mut retries = log_rows(&app, "retry").await;
    assert_eq!(retries.len(), 1, "{retries:?}");
    let retry = retries.remove(0);
    assert_eq!(retry.level, "warn");
    assert_eq!(retry.detail["retry"], 1);
    assert!(
        retry.detail["url"]
            .as_str()
            .is_some_and(|u| u.contains("/api/v1/customer-groups")),
        "{:?}",
        retry.detail
    );
    (app, retry)
}

#[tokio::test]
async fn http_500_is_retried_and_the_run_succeeds() {
    let (_app, retry) =
        first_request_fails_then_run_succeeds(json_error(500, "Internal Server Error")).await;

    assert_eq!(retry.http_status, Some(500));
    assert_eq!(retry.detail["cause"], "http_error");
}

#[tokio::test]
async fn http_503_retry_after_is_honoured_as_the_retry_delay() {
    let fault = Fault::Status {
        status: 503,
        body: "{\"status\":503,\"error\":\"Service Unavailable\"}".into(),
        retry_after: Some("1".into()),
    };

    let (_app, retry) = first_request_fails_then_run_succeeds(fault).await;

    assert_eq!(retry.http_status, Some(503));
    assert_eq!(retry.detail["delay_ms"], 1000, "{:?}", retry.detail);
}

#[tokio::test]
async fn http_429_is_retried_and_the_run_succeeds() {
    let (_app, retry) =
        first_request_fails_then_run_succeeds(json_error(429, "Too Many Requests")).await;

    assert_eq!(retry.http_status, Some(429));
    assert_eq!(retry.detail["cause"], "http_error");
}

#[tokio::test]
async fn invalid_json_is_retried_and_the_run_succeeds() {
    let (_app, retry) = first_request_fails_then_run_succeeds(Fault::InvalidJson).await;

    assert_eq!(retry.detail["cause"], "bad_response");
}

#[tokio::test]
async fn html_error_page_from_a_proxy_is_retried_and_the_run_succeeds() {
    let (_app, retry) = first_request_fails_then_run_succeeds(Fault::Html { status: 502 }).await;

    assert_eq!(retry.http_status, Some(502));
    assert!(retry.message.contains("HTML"), "{}", retry.message);
}

#[tokio::test]
async fn html_page_under_http_200_is_retried_and_the_run_succeeds() {
    let (_app, retry) = first_request_fails_then_run_succeeds(Fault::Html { status: 200 }).await;

    assert_eq!(retry.detail["cause"], "bad_response");
}

#[tokio::test]
async fn truncated_body_is_retried_and_the_run_succeeds() {
    let (_app, retry) = first_request_fails_then_run_succeeds(Fault::Truncated).await;

    assert_eq!(retry.detail["cause"], "network_error");
}

/// A database with one successful sync, and the API changed since, so that a run that
/// wrongly wrote anything would show in the snapshot.
async fn synced_app_with_pending_changes() -> (TestApp, String, Option<String>) {
    let app = spawn_app(8).await;
    let first = app.sync().await;
    assert_eq!(first.status, RunStatus::Success, "{:?}", first.error);
    app.api.update_groups(&[2, 3], "2026-11-20 10:00:00");
    app.api.put_group(9, 1, "New since", "2026-11-20 11:00:00");
    app.api.clear_requests();
    let snapshot = app.snapshot().await;
    let watermark = app.watermark().await;
    (app, snapshot, watermark)
}

#[tokio::test]
async fn persistent_server_error_fails_the_run_and_loses_nothing() {
    let (app, before, watermark) = synced_app_with_pending_changes().await;
    for _ in 0..=app.max_retries {
        app.api.push_fault(json_error(500, "Internal Server Error"));
    }

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.exit_code, 1);
    assert_eq!(app.api.request_count(), app.max_retries as usize + 1);
    assert_eq!(app.api.pending_faults(), 0);
    let (status, http_status, error) = last_run(&app).await;
    assert_eq!(status, "failed");
    assert_eq!(http_status, Some(500));
    let error = error.expect("the run says why it failed");
    assert!(error.contains("Internal Server Error"), "{error}");
    let failures = log_rows(&app, "http_error").await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].level, "error");
    assert_eq!(failures[0].http_status, Some(500));
    assert_eq!(app.events("retry").await, i64::from(app.max_retries));
    assert_eq!(app.snapshot().await, before, "no row changed");
    assert_eq!(app.watermark().await, watermark, "watermark unchanged");
}

#[tokio::test]
async fn sync_after_a_persistent_failure_succeeds_and_catches_up() {
    let (app, _, watermark) = synced_app_with_pending_changes().await;
    for _ in 0..=app.max_retries {
        app.api.push_fault(json_error(503, "Service Unavailable"));
    }
    assert_eq!(app.sync().await.status, RunStatus::Failed);

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!((report.tally.inserted, report.tally.updated), (1, 2));
    assert_eq!(app.live_groups().await, 9);
    assert!(app.watermark().await > watermark, "watermark moved on");
    let (status, _, error) = last_run(&app).await;
    assert_eq!((status.as_str(), error), ("success", None));
}

/// A client error other than auth is the daemon asking wrongly: one request, no retry.
async fn client_error_is_not_retried(status: u16, error: &str) {
    let (app, before, watermark) = synced_app_with_pending_changes().await;
    app.api.push_fault(json_error(status, error));

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(app.api.request_count(), 1, "not retried");
    assert_eq!(app.events("retry").await, 0);
    let (run_status, http_status, run_error) = last_run(&app).await;
    assert_eq!(run_status, "failed");
    assert_eq!(http_status, Some(i64::from(status)));
    assert!(run_error.unwrap_or_default().contains(error));
    let failures = log_rows(&app, "http_error").await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].http_status, Some(i64::from(status)));
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.watermark().await, watermark);
}

#[tokio::test]
async fn http_400_is_not_retried_and_fails_the_run() {
    client_error_is_not_retried(400, "Bad Request: business_code must be an integer").await;
}

#[tokio::test]
async fn http_404_with_an_error_is_not_retried_and_fails_the_run() {
    client_error_is_not_retried(404, "Not Found: no such route").await;
}

/// Asserts the one auth failure the last run must have logged, and that nothing else moved.
async fn assert_auth_failure(
    app: &TestApp,
    status: i64,
    message: &str,
    before: &str,
    watermark: &Option<String>,
) {
    assert_eq!(app.api.request_count(), 1, "auth failures are not retried");
    assert_eq!(app.events("retry").await, 0);
    let (run_status, http_status, _) = last_run(app).await;
    assert_eq!(run_status, "auth_failed");
    assert_eq!(http_status, Some(status));
    let rows = log_rows(app, "auth_failure").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].level, "error");
    assert_eq!(rows[0].http_status, Some(status));
    assert_eq!(rows[0].message, message);
    assert_eq!(
        rows[0].detail["key_fingerprint"],
        fingerprint_of("test-key")
    );
    assert!(
        rows[0].detail["url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&app.api.api_url())),
        "{:?}",
        rows[0].detail
    );
    let pool = app.db().await;
    let view = sqlx::query_as::<_, AuthFailureRow>(
        "SELECT http_status, message, key_fingerprint, url FROM auth_failures",
    )
    .fetch_all(&pool)
    .await
    .expect("auth_failures view");
    pool.close().await;
    assert_eq!(view.len(), 1, "{view:?}");
    assert_eq!(view[0].http_status, Some(status));
    assert_eq!(view[0].message.as_deref(), Some(message));
    assert_eq!(
        view[0].key_fingerprint.as_deref(),
        Some(fingerprint_of("test-key").as_str())
    );
    assert!(view[0].url.is_some());
    assert_eq!(app.snapshot().await, before, "rows untouched");
    assert_eq!(&app.watermark().await, watermark, "watermark untouched");
}

#[tokio::test]
async fn http_401_is_an_auth_failure_logged_with_the_key_fingerprint() {
    let (app, before, watermark) = synced_app_with_pending_changes().await;
    app.api.set_api_key(Some("other"));

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::AuthFailed);
    assert_eq!(report.exit_code, 3);
    assert_auth_failure(
        &app,
        401,
        "Unauthorized: Invalid API Key",
        &before,
        &watermark,
    )
    .await;
}

#[tokio::test]
async fn body_status_401_under_http_200_is_an_auth_failure() {
    let (app, before, watermark) = synced_app_with_pending_changes().await;
    app.api.push_fault(Fault::BodyStatus {
        status: 401,
        error: "Unauthorized: Invalid API Key".into(),
    });

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::AuthFailed);
    assert_eq!(report.exit_code, 3);
    assert_auth_failure(
        &app,
        401,
        "Unauthorized: Invalid API Key",
        &before,
        &watermark,
    )
    .await;
}

#[tokio::test]
async fn http_403_is_an_auth_failure() {
    let (app, before, watermark) = synced_app_with_pending_changes().await;
    app.api
        .push_fault(json_error(403, "Forbidden: key has no access to groups"));

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::AuthFailed);
    assert_auth_failure(
        &app,
        403,
        "Forbidden: key has no access to groups",
        &before,
        &watermark,
    )
    .await;
}

/// A body over `max_response_bytes` fails the run as a `bad_response`, stores nothing.
async fn oversized_response_is_refused(content_length: bool) {
    let mut app = spawn_app(3).await;
    app.max_response_bytes = 8 * 1024;
    assert_eq!(app.sync().await.status, RunStatus::Success);
    let before = app.snapshot().await;
    let watermark = app.watermark().await;
    app.api
        .put_group(4, 1, "Would be new", "2026-11-20 11:00:00");
    app.api.push_fault(Fault::Oversized {
        bytes: 256 * 1024,
        content_length,
    });

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Failed);
    let (status, _, error) = last_run(&app).await;
    assert_eq!(status, "failed");
    assert!(
        error.unwrap_or_default().contains("max_response_bytes"),
        "the error names the setting"
    );
    assert_eq!(log_rows(&app, "bad_response").await.len(), 1);
    assert_eq!(app.snapshot().await, before, "nothing stored");
    assert_eq!(app.watermark().await, watermark);
}

#[tokio::test]
async fn oversized_response_with_content_length_is_refused() {
    oversized_response_is_refused(true).await;
}

#[tokio::test]
async fn oversized_response_without_content_length_is_refused() {
    oversized_response_is_refused(false).await;
}

#[tokio::test]
async fn redirect_to_another_origin_is_refused_and_the_key_not_sent_there() {
    let app = spawn_app(3).await;
    assert_eq!(app.sync().await.status, RunStatus::Success);
    let before = app.snapshot().await;
    let watermark = app.watermark().await;
    let elsewhere = FakeApi::start(FakeOptions {
        groups: 3,
        api_key: None,
        ..FakeOptions::default()
    })
    .await
    .expect("second fake starts");
    app.api.push_fault(Fault::Redirect {
        location: elsewhere.api_url(),
    });

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(elsewhere.request_count(), 0, "the other origin saw nothing");
    let refused = log_rows(&app, "bad_response").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].message.contains(&elsewhere.base_url()),
        "{}",
        refused[0].message
    );
    assert_eq!(app.last_run_status().await, "failed");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.watermark().await, watermark);
}

#[tokio::test]
async fn redirect_within_the_same_origin_is_followed() {
    let app = spawn_app(4).await;
    app.api.push_fault(Fault::Redirect {
        location: format!("{}?moved=1", app.api.api_url()),
    });

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    let requests = app.api.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1].query_value("moved"), Some("1"));
    assert_eq!(
        requests[1].authorization.as_deref(),
        Some("Bearer test-key")
    );
    assert_eq!(app.live_groups().await, 4);
    assert_eq!(app.last_run_status().await, "success");
}
