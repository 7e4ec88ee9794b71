//! Both pagination styles of docs/upstream-api.md, in every place a response may carry them, and the ways
//! pagination can go wrong: loops, too many pages, a bad later page, another origin.

use xtrakit_sync::domain::{Mode, RunStatus, Scope};

use crate::fake_api::{
    FakeApi, FakeOptions, Fault, LinkLocation, MetaLocation, Pagination, RecordedRequest,
};
use crate::helpers::{json_response, spawn_app, spawn_app_with, synced_paginated_app, Ask, FULL};

const GROUPS: usize = 7;
const PER_PAGE: usize = 3;
/// 7 groups, 3 a page.
const PAGES: usize = 3;

fn next_url(location: LinkLocation, absolute: bool) -> Pagination {
    Pagination::NextUrl { location, absolute }
}

fn numbered(location: MetaLocation) -> Pagination {
    Pagination::Numbered { location }
}

/// The pages asked for, in page order: numbered pages are asked for several at once, so
/// they may arrive in any order.
fn pages_asked(requests: &[RecordedRequest]) -> Vec<Option<String>> {
    let mut pages: Vec<Option<String>> = requests
        .iter()
        .map(|r| r.query_value("page").map(str::to_owned))
        .collect();
    pages.sort();
    pages
}

fn every_page_asked() -> Vec<Option<String>> {
    let mut pages = vec![None];
    pages.extend((2..=PAGES).map(|p| Some(p.to_string())));
    pages
}

/// A full run then an incremental one of business code 1, both over three pages: every
/// group is stored, and every page after the first repeats the first request's parameters
/// with `page=N` added.
async fn assert_walks_every_page_keeping_the_filters(pagination: Pagination) {
    let app = spawn_app_with(FakeOptions {
        groups: GROUPS,
        pagination,
        per_page: PER_PAGE,
        ..FakeOptions::default()
    })
    .await;
    let scope = [Scope::business(1)];

    let full = app.sync_scopes(&scope, Ask::default()).await.remove(0);

    assert_eq!(full.status, RunStatus::Success, "{:?}", full.error);
    assert_eq!(app.live_groups().await, GROUPS as i64);
    assert_eq!(
        app.scalar("SELECT pages FROM sync_runs").await,
        PAGES as i64
    );
    let requests = app.api.requests();
    assert_eq!(pages_asked(&requests), every_page_asked());
    for r in &requests {
        assert_eq!(r.query_value("business_code"), Some("1"), "{r:?}");
        assert_eq!(r.authorization.as_deref(), Some("Bearer test-key"));
    }

    let ids: Vec<i64> = (1..=GROUPS as i64).collect();
    app.api.update_groups(&ids, "2025-06-01 00:00:00");
    app.api.clear_requests();
    let incremental = app.sync_scopes(&scope, Ask::default()).await.remove(0);

    assert_eq!(
        incremental.status,
        RunStatus::Success,
        "{:?}",
        incremental.error
    );
    assert_eq!(incremental.mode, Mode::Incremental);
    assert_eq!(incremental.tally.updated, GROUPS as u64);
    let requests = app.api.requests();
    assert_eq!(pages_asked(&requests), every_page_asked());
    let filter = requests[0].query_value("updated_at").expect("a filter");
    for r in &requests {
        assert_eq!(r.query_value("updated_at"), Some(filter), "{r:?}");
        assert_eq!(r.query_value("business_code"), Some("1"), "{r:?}");
    }
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_groups WHERE updated_at = '2025-06-01 00:00:00'")
            .await,
        GROUPS as i64
    );
}

#[tokio::test]
async fn relative_next_page_url_at_top_level_is_followed_to_the_end() {
    assert_walks_every_page_keeping_the_filters(next_url(LinkLocation::TopLevel, false)).await;
}

#[tokio::test]
async fn absolute_next_page_url_at_top_level_is_followed_to_the_end() {
    assert_walks_every_page_keeping_the_filters(next_url(LinkLocation::TopLevel, true)).await;
}

#[tokio::test]
async fn relative_next_page_url_in_data_is_followed_to_the_end() {
    assert_walks_every_page_keeping_the_filters(next_url(LinkLocation::InData, false)).await;
}

#[tokio::test]
async fn absolute_next_page_url_in_data_is_followed_to_the_end() {
    assert_walks_every_page_keeping_the_filters(next_url(LinkLocation::InData, true)).await;
}

#[tokio::test]
async fn relative_next_page_url_in_meta_is_followed_to_the_end() {
    assert_walks_every_page_keeping_the_filters(next_url(LinkLocation::InMeta, false)).await;
}

#[tokio::test]
async fn absolute_next_page_url_in_meta_is_followed_to_the_end() {
    assert_walks_every_page_keeping_the_filters(next_url(LinkLocation::InMeta, true)).await;
}

#[tokio::test]
async fn relative_links_next_is_followed_to_the_end() {
    assert_walks_every_page_keeping_the_filters(next_url(LinkLocation::LinksNext, false)).await;
}

#[tokio::test]
async fn absolute_links_next_is_followed_to_the_end() {
    assert_walks_every_page_keeping_the_filters(next_url(LinkLocation::LinksNext, true)).await;
}

#[tokio::test]
async fn current_and_last_page_at_top_level_ask_for_every_page() {
    assert_walks_every_page_keeping_the_filters(numbered(MetaLocation::TopLevel)).await;
}

#[tokio::test]
async fn current_and_last_page_in_data_ask_for_every_page() {
    assert_walks_every_page_keeping_the_filters(numbered(MetaLocation::InData)).await;
}

#[tokio::test]
async fn current_and_last_page_in_meta_ask_for_every_page() {
    assert_walks_every_page_keeping_the_filters(numbered(MetaLocation::InMeta)).await;
}

#[tokio::test]
async fn page_repeating_an_earlier_url_stops_the_run_with_an_error() {
    let app = synced_paginated_app(GROUPS, PER_PAGE).await;
    let (before, watermark) = (app.snapshot().await, app.watermark().await);
    app.api.push_fault(Fault::Pass);
    // Page 2 names itself as the page after it.
    let page_two = "/api/v1/customer-groups?page=2";
    app.api.push_fault(json_response(200, format!(
        r#"{{"status":200,"data":{{"groups":[{{"id":1,"group_name":{{}}}}]}},"next_page_url":"{page_two}"}}"#
    )));

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(app.last_run_status().await, "failed");
    assert_eq!(
        app.api.request_count(),
        2,
        "the repeated page is not fetched"
    );
    assert_eq!(app.events("bad_response").await, 1);
    let message = app.event_messages("bad_response").await.remove(0);
    assert!(message.contains("already fetched"), "{message}");
    assert_eq!(app.snapshot().await, before, "nothing lost");
    assert_eq!(app.live_groups().await, GROUPS as i64);
    assert_eq!(app.watermark().await, watermark);
}

#[tokio::test]
async fn more_pages_than_max_pages_fails_the_run() {
    let mut app = synced_paginated_app(GROUPS, PER_PAGE).await;
    let (before, watermark) = (app.snapshot().await, app.watermark().await);
    app.options.max_pages = (PAGES - 1) as u32;

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(app.last_run_status().await, "failed");
    assert_eq!(app.api.request_count(), PAGES - 1);
    assert_eq!(app.events("bad_response").await, 1);
    let message = app.event_messages("bad_response").await.remove(0);
    assert!(message.contains("max_pages"), "{message}");
    assert_eq!(
        app.snapshot().await,
        before,
        "no deletion on a partial full run"
    );
    assert_eq!(app.watermark().await, watermark);
}

#[tokio::test]
async fn exactly_max_pages_pages_is_a_success() {
    let mut app = synced_paginated_app(GROUPS, PER_PAGE).await;
    app.options.max_pages = PAGES as u32;

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.pages, PAGES as u64);
    assert_eq!(app.events("bad_response").await, 0);
}

#[tokio::test]
async fn bad_later_page_fails_the_run_without_deletions_or_watermark_move() {
    let app = synced_paginated_app(GROUPS, PER_PAGE).await;
    let watermark = app.watermark().await;
    // A complete full run would now mark group 7 deleted and store group 1's new version.
    app.api.remove_groups(&[GROUPS as i64]);
    app.api.update_groups(&[1], "2025-06-01 00:00:00");
    app.api.push_fault(Fault::Pass);
    let bad = r#"{"status":200,"data":{"items":[]}}"#.to_owned();
    for _ in 0..=app.max_retries {
        app.api.push_fault(json_response(200, bad.clone()));
    }

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(app.last_run_status().await, "failed");
    assert_eq!(app.events("retry").await, i64::from(app.max_retries));
    assert_eq!(app.events("bad_response").await, 1);
    assert_eq!(app.watermark().await, watermark);
    assert_eq!(
        app.live_groups().await,
        GROUPS as i64,
        "group 7 not deleted"
    );
    assert_eq!(
        app.scalar("SELECT deleted FROM sync_runs ORDER BY id DESC LIMIT 1")
            .await,
        0
    );
    assert_eq!(
        app.text("SELECT updated_at FROM customer_groups WHERE id = 1")
            .await
            .as_deref(),
        Some("2025-06-01 00:00:00"),
        "the first page's rows stay written"
    );
    assert_eq!(
        app.scalar("SELECT pages FROM sync_runs ORDER BY id DESC LIMIT 1")
            .await,
        1
    );
}

#[tokio::test]
async fn next_page_url_to_another_origin_is_refused_without_sending_the_key() {
    let app = spawn_app(4).await;
    app.sync().await;
    let (before, watermark) = (app.snapshot().await, app.watermark().await);
    let elsewhere = FakeApi::start(FakeOptions {
        api_key: None,
        groups: 2,
        ..FakeOptions::default()
    })
    .await
    .expect("second fake starts");
    let link = format!("{}?page=2", elsewhere.api_url());
    app.api.push_fault(json_response(200, format!(
        r#"{{"status":200,"data":{{"groups":[{{"id":1,"group_name":{{}}}}]}},"next_page_url":"{link}"}}"#
    )));

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(app.last_run_status().await, "failed");
    assert_eq!(
        elsewhere.request_count(),
        0,
        "nothing is sent to another origin"
    );
    assert_eq!(app.events("bad_response").await, 1);
    let message = app.event_messages("bad_response").await.remove(0);
    assert!(message.contains(&elsewhere.base_url()), "{message}");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.watermark().await, watermark);
}
