//! Compressed transfer (docs/upstream-api.md): asked for, decoded transparently, and capped by
//! `max_response_bytes` after decoding, so a small compressed page cannot blow up in memory.

use xtrakit_sync::domain::RunStatus;

use crate::fake_api::Fault;
use crate::helpers::spawn_app;

#[tokio::test]
async fn pages_are_asked_for_gzip_and_stored_decoded() {
    let app = spawn_app(50).await;

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    let asked = app.api.requests()[0]
        .accept_encoding
        .clone()
        .unwrap_or_default();
    assert!(asked.contains("gzip"), "Accept-Encoding: {asked}");
    assert_eq!(app.live_groups().await, 50);
    let raw = app
        .text("SELECT raw_json FROM customer_groups WHERE id = 1")
        .await
        .unwrap_or_default();
    assert!(
        raw.starts_with("{\"id\":1,") && raw.contains("Group 1 v0"),
        "{raw}"
    );
}

#[tokio::test]
async fn a_gzip_page_that_decodes_past_max_response_bytes_is_refused() {
    let mut app = spawn_app(5).await;
    app.max_response_bytes = 1024 * 1024;
    app.sync().await;
    let before = app.snapshot().await;
    app.api.push_fault(Fault::GzipBomb {
        decoded_bytes: 64 * 1024 * 1024,
    });

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap_or_default();
    assert!(error.contains("max_response_bytes"), "{error}");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.api.pending_faults(), 0);
}
