//! An API that does not do what its documentation seems to say, and the proxies in front of
//! it: the data stays fresh and complete all the same.

use xtrakit_sync::domain::RunStatus;

use crate::fake_api::{Fault, UpdatedAtFilter};
use crate::helpers::spawn_app;

fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

#[tokio::test]
async fn an_api_that_reads_updated_at_as_an_end_date_still_gets_changes_stored() {
    let app = spawn_app(20).await;
    app.sync().await;
    app.api.set_updated_at_filter(UpdatedAtFilter::EndDate);
    let now = now_text();
    app.api.put_group(500, 1, "Brand new", &now);
    app.api.update_groups(&[4], &now);

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.inserted, 1);
    assert_eq!(report.tally.updated, 1);
    let name = app
        .text("SELECT group_name FROM customer_groups WHERE id = 500")
        .await;
    assert_eq!(name.as_deref(), Some("Brand new"));
    assert_eq!(app.events("filter_not_honoured").await, 1);
    let requests = app.api.requests();
    let last = requests.last().expect("requests");
    assert_eq!(last.query_value("updated_at"), None, "an unfiltered pass");
}

#[tokio::test]
async fn an_api_that_ignores_the_filter_is_listed_once_more_without_it() {
    let app = spawn_app(20).await;
    app.sync().await;
    app.api.honour_updated_at_filter(false);
    app.api.clear_requests();

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(app.api.request_count(), 2);
    assert_eq!(report.tally.deleted, 0, "an unfiltered pass never deletes");
    assert_eq!(app.events("filter_not_honoured").await, 1);
}

#[tokio::test]
async fn an_incremental_listing_that_honours_the_filter_is_not_repeated() {
    let app = spawn_app(20).await;
    app.sync().await;
    app.api.update_groups(&[2], &now_text());
    app.api.clear_requests();

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.updated, 1);
    assert_eq!(app.api.request_count(), 1);
    assert_eq!(app.events("filter_not_honoured").await, 0);
}

#[tokio::test]
async fn proxy_errors_520_to_524_are_retried() {
    for status in [520, 521, 522, 523, 524] {
        let app = spawn_app(5).await;
        app.api.push_fault(Fault::Status {
            status,
            body: "origin unreachable".into(),
            retry_after: None,
        });

        let report = app.sync().await;

        assert_eq!(
            report.status,
            RunStatus::Success,
            "{status}: {:?}",
            report.error
        );
        assert_eq!(app.live_groups().await, 5);
        assert_eq!(app.events("retry").await, 1, "{status}");
    }
}

#[tokio::test]
async fn not_implemented_501_is_not_retried() {
    let app = spawn_app(5).await;
    app.api.push_fault(Fault::Status {
        status: 501,
        body: r#"{"status":501,"error":"Not Implemented"}"#.into(),
        retry_after: None,
    });

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(app.events("retry").await, 0);
    assert_eq!(app.live_groups().await, 0);
}
