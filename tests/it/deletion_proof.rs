//! Deletions only on proof (the README's "How a sync works", "Full run"): each test is a way an API or a
//! network once made a full run mark a group deleted that the API still had.

use xtrakit_sync::domain::RunStatus;

use crate::fake_api::{Fault, MessageCount, MetaLocation, Mutation, Pagination};
use crate::helpers::{spawn_app, TestApp, FULL, FULL_MASS_DELETE};

const NUMBERED: Pagination = Pagination::Numbered {
    location: MetaLocation::InMeta,
};

/// Groups 1..=n, synced, served `per_page` at a time with page numbers, asked for one at a
/// time so that queued faults meet the pages in order.
async fn synced_paged_app(n: usize, per_page: usize) -> TestApp {
    let mut app = spawn_app(n).await;
    app.options.max_concurrent_requests = 1;
    app.api.set_pagination(NUMBERED, per_page);
    let report = app.sync().await;
    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    app
}

fn not_found_page() -> Fault {
    Fault::Raw {
        status: 404,
        content_type: "application/json".into(),
        body: r#"{"message":"Not Found"}"#.into(),
    }
}

fn empty_page() -> Fault {
    Fault::Raw {
        status: 200,
        content_type: "application/json".into(),
        body: r#"{"status":200,"message":"Groups found: 0","data":[]}"#.into(),
    }
}

/// Serves the first `good` pages, then answers every attempt at the next one with `fault`.
fn fail_after(app: &TestApp, good: usize, fault: Fault) {
    for _ in 0..good {
        app.api.push_fault(Fault::Pass);
    }
    for _ in 0..=app.max_retries {
        app.api.push_fault(fault.clone());
    }
}

#[tokio::test]
async fn the_guard_counts_only_rows_live_before_the_run_not_the_runs_own_inserts() {
    let app = spawn_app(40).await;
    app.sync().await;
    let verified = app.mark_verified_long_ago().await;
    app.api.generate(0);
    for id in 41..=90 {
        app.api.put_group(id, 1, "New", "2024-05-01 00:00:00");
    }

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.inserted, 50);
    assert_eq!(
        report.tally.deleted, 0,
        "40 of 40 live rows is past the guard"
    );
    assert!(app.deleted_ids().await.is_empty());
    assert_eq!(app.events("deletion_guard").await, 1);
    assert_eq!(
        app.last_full_sync_at().await,
        verified,
        "not verified in full"
    );
}

#[tokio::test]
async fn a_rejected_record_whose_id_can_be_read_is_not_marked_deleted() {
    let app = spawn_app(10).await;
    app.sync().await;
    app.api
        .put_raw(r#"{"id":3,"group_name":{"en":"Three"},"updated_at":"2024-05-01 00:00:00"}"#);

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.rejected, 1);
    assert_eq!(report.tally.deleted, 0);
    assert!(
        app.deleted_ids().await.is_empty(),
        "group 3 exists upstream"
    );
    assert_eq!(app.events("rejected_record").await, 1);
}

#[tokio::test]
async fn a_404_page_inside_the_listing_fails_the_full_run_and_marks_nothing() {
    let app = synced_paged_app(20, 5).await;
    let before = app.snapshot().await;
    let verified = app.mark_verified_long_ago().await;
    fail_after(&app, 3, not_found_page());

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Failed);
    assert!(app.deleted_ids().await.is_empty());
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.last_full_sync_at().await, verified);
    assert_eq!(app.events("bad_response").await, 1);
}

#[tokio::test]
async fn an_empty_page_inside_the_listing_fails_the_full_run_and_marks_nothing() {
    let app = synced_paged_app(20, 5).await;
    let before = app.snapshot().await;
    fail_after(&app, 3, empty_page());

    let report = app.sync_with(FULL_MASS_DELETE).await;

    assert_eq!(report.status, RunStatus::Failed);
    assert!(app.deleted_ids().await.is_empty());
    assert_eq!(app.snapshot().await, before);
    assert!(
        app.events("retry").await >= 1,
        "an empty linked page is retried"
    );
}

#[tokio::test]
async fn an_empty_page_inside_the_listing_that_comes_right_on_retry_costs_nothing() {
    let app = synced_paged_app(20, 5).await;
    app.api.push_fault(Fault::Pass);
    app.api.push_fault(empty_page());

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.deleted, 0);
    assert_eq!(app.events("retry").await, 1);
}

#[tokio::test]
async fn rows_shifting_between_pages_are_never_marked_deleted() {
    let app = synced_paged_app(20, 5).await;
    // No "Groups found: N" to compare with: the count check cannot notice the shift.
    app.api.set_message_count(MessageCount::Omit);
    // Group 3 goes while the run is past page 2: every later row moves one place back, and
    // group 11, first on page 3 before, is now last on page 2 and never sent.
    app.api.mutate_after(2, Mutation::Remove(vec![3]));

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert!(
        app.deleted_ids().await.is_empty(),
        "group 11 never left the API"
    );
    let saved = app.event_details("deletion_unconfirmed").await;
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0]["ids"], serde_json::json!([11]));

    let report = app.sync_with(FULL).await;

    assert_eq!(report.tally.deleted, 1);
    assert_eq!(
        app.deleted_ids().await,
        vec![3],
        "the real deletion, on proof"
    );
}

#[tokio::test]
async fn a_count_that_no_longer_matches_after_a_shift_holds_every_deletion_back() {
    let app = synced_paged_app(20, 5).await;
    let verified = app.mark_verified_long_ago().await;
    app.api.mutate_after(2, Mutation::Remove(vec![3]));

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert!(app.deleted_ids().await.is_empty());
    assert_eq!(app.events("count_mismatch").await, 1);
    assert_eq!(
        app.last_full_sync_at().await,
        verified,
        "not verified in full"
    );
}

#[tokio::test]
async fn a_200_body_with_only_an_error_is_a_bad_response_and_deletes_nothing() {
    let app = spawn_app(10).await;
    app.sync().await;
    let before = app.snapshot().await;
    let error_body = Fault::Raw {
        status: 200,
        content_type: "application/json".into(),
        body: r#"{"error":"Service temporarily unavailable"}"#.into(),
    };
    fail_after(&app, 0, error_body);

    let report = app.sync_with(FULL_MASS_DELETE).await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(app.live_groups().await, 10);
    assert_eq!(app.snapshot().await, before);
    let messages = app.event_messages("bad_response").await;
    assert!(
        messages[0].contains("Service temporarily unavailable"),
        "{messages:?}"
    );
}

#[tokio::test]
async fn a_first_listing_that_comes_back_empty_is_corrected_by_the_confirming_listing() {
    let app = spawn_app(10).await;
    app.sync().await;
    let before = app.snapshot().await;
    app.api.push_fault(empty_page());

    let report = app.sync_with(FULL_MASS_DELETE).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.deleted, 0);
    assert_eq!(app.snapshot().await, before);
    let saved = app.event_details("deletion_unconfirmed").await;
    assert_eq!(saved[0]["count"], 10, "{saved:?}");
}
