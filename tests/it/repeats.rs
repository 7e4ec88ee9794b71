//! What the API sends more than once: the same group on two pages of one listing, and the
//! same flawed record run after run.

use xtrakit_sync::domain::RunStatus;

use crate::fake_api::Fault;
use crate::helpers::{spawn_app, TestApp};

/// A page of `data` records with page numbers, as a literal response.
fn numbered_page(page: u32, last: u32, records: &str) -> Fault {
    Fault::Raw {
        status: 200,
        content_type: "application/json".into(),
        body: format!(
            r#"{{"status":200,"data":[{records}],"current_page":{page},"last_page":{last}}}"#
        ),
    }
}

fn group(id: i64, name: &str, updated_at: &str) -> String {
    format!(r#"{{"id":{id},"group_name":"{name}","updated_at":"{updated_at}"}}"#)
}

async fn stored_name(app: &TestApp, id: i64) -> Option<String> {
    app.text(&format!(
        "SELECT group_name FROM customer_groups WHERE id = {id}"
    ))
    .await
}

#[tokio::test]
async fn an_older_copy_on_a_later_page_does_not_overwrite_the_newer_one() {
    let app = spawn_app(0).await;
    let newer = group(1, "newer", "2024-05-02 00:00:00");
    let older = group(1, "older", "2024-05-01 00:00:00");
    app.api.push_fault(numbered_page(1, 2, &newer));
    app.api.push_fault(numbered_page(
        2,
        2,
        &format!("{older},{}", group(2, "two", "2024-05-01 00:00:00")),
    ));

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(stored_name(&app, 1).await.as_deref(), Some("newer"));
    assert_eq!((report.tally.inserted, report.tally.updated), (2, 0));
    let details = app.event_details("duplicate_id").await;
    assert_eq!(details.len(), 1, "{details:?}");
    assert_eq!(details[0]["id"], 1);
}

#[tokio::test]
async fn a_newer_copy_on_a_later_page_wins() {
    let app = spawn_app(0).await;
    app.api.push_fault(numbered_page(
        1,
        2,
        &group(1, "older", "2024-05-01 00:00:00"),
    ));
    app.api.push_fault(numbered_page(
        2,
        2,
        &group(1, "newer", "2024-05-02 00:00:00"),
    ));

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(stored_name(&app, 1).await.as_deref(), Some("newer"));
    assert_eq!(app.events("duplicate_id").await, 1);
    let history = app
        .scalar("SELECT count(*) FROM customer_group_history WHERE group_id = 1")
        .await;
    assert_eq!(history, 2, "an insert, then the newer copy's update");
}

#[tokio::test]
async fn an_unchanged_record_with_a_bad_timestamp_is_logged_once_not_every_run() {
    let app = spawn_app(3).await;
    app.api
        .put_raw(r#"{"id":9,"group_name":"Odd","updated_at":"yesterday-ish"}"#);
    app.sync().await;
    assert_eq!(app.events("bad_timestamp").await, 1);

    let report = app.sync_with(crate::helpers::FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.unchanged, 4);
    assert_eq!(app.events("bad_timestamp").await, 1, "not logged again");
}

#[tokio::test]
async fn a_year_outside_0001_to_9999_is_stored_as_null_and_logged() {
    let app = spawn_app(0).await;
    app.api.put_raw(
        r#"{"id":5,"group_name":"Far","created_at":"9999-12-31T23:30:00-01:00","updated_at":"2024-05-01 00:00:00"}"#,
    );

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    let created = app
        .text("SELECT created_at FROM customer_groups WHERE id = 5")
        .await;
    assert_eq!(created, None);
    assert_eq!(app.events("bad_timestamp").await, 1);
}

#[tokio::test]
async fn the_same_rejected_record_is_logged_once_and_counted_every_run() {
    let app = spawn_app(3).await;
    app.api
        .put_raw(r#"{"id":7,"group_name":{"en":"Seven"},"updated_at":"2024-05-01 00:00:00"}"#);
    app.sync().await;

    let report = app.sync_with(crate::helpers::FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.rejected, 1, "still counted");
    assert_eq!(app.events("rejected_record").await, 1, "logged once");
    app.api.put_raw(
        r#"{"id":7,"group_name":{"en":"Seven, again"},"updated_at":"2024-05-02 00:00:00"}"#,
    );
    app.sync_with(crate::helpers::FULL).await;
    assert_eq!(
        app.events("rejected_record").await,
        2,
        "a new version is logged"
    );
}
