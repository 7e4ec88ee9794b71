//! Requests ahead of the writer (issue 9): page-numbered listings fetch several pages at
//! once, link-paginated ones the next page while writing, and either way the pages are
//! written strictly in order.

use std::time::Duration;

use xtrakit_sync::domain::RunStatus;

use crate::fake_api::{FakeOptions, Fault, LinkLocation, MetaLocation, Pagination};
use crate::helpers::{json_response, spawn_app_with, TestApp};

const PER_PAGE: usize = 5;
const PAGES: usize = 12;
const GROUPS: usize = PER_PAGE * PAGES;
/// Long enough that requests sent together are answered together.
const LATENCY: Duration = Duration::from_millis(40);

async fn app(pagination: Pagination, concurrency: u32) -> TestApp {
    let mut app = spawn_app_with(FakeOptions {
        groups: GROUPS,
        pagination,
        per_page: PER_PAGE,
        latency: LATENCY,
        ..FakeOptions::default()
    })
    .await;
    app.options.max_concurrent_requests = concurrency;
    app
}

fn numbered() -> Pagination {
    Pagination::Numbered {
        location: MetaLocation::TopLevel,
    }
}

fn links() -> Pagination {
    Pagination::NextUrl {
        location: LinkLocation::TopLevel,
        absolute: true,
    }
}

fn most_in_flight(app: &TestApp) -> usize {
    app.api
        .requests()
        .iter()
        .map(|r| r.in_flight)
        .max()
        .unwrap_or(0)
}

/// Every group stored, and the history written in the order of the pages: the generated ids
/// ascend page by page, so a page written out of order shows as a descending step.
async fn assert_every_page_written_in_order(app: &TestApp) {
    assert_eq!(app.live_groups().await, GROUPS as i64);
    assert_eq!(
        app.scalar("SELECT pages FROM sync_runs").await,
        PAGES as i64
    );
    let pool = app.db().await;
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT group_id FROM customer_group_history ORDER BY history_id")
            .fetch_all(&pool)
            .await
            .expect("history");
    pool.close().await;
    let expected: Vec<i64> = (1..=GROUPS as i64).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn numbered_pages_are_fetched_several_at_once_and_written_in_order() {
    let app = app(numbered(), 4).await;

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    let most = most_in_flight(&app);
    assert!(
        (2..=4).contains(&most),
        "at most 4 at once, and more than 1: {most}"
    );
    assert_every_page_written_in_order(&app).await;
    let mut pages: Vec<usize> = app
        .api
        .requests()
        .iter()
        .map(|r| {
            r.query_value("page")
                .map_or(1, |p| p.parse().expect("page"))
        })
        .collect();
    pages.sort_unstable();
    let each_once: Vec<usize> = (1..=PAGES).collect();
    assert_eq!(pages, each_once, "each page asked once, none past the last");
}

#[tokio::test]
async fn max_concurrent_requests_1_asks_for_one_page_at_a_time() {
    let app = app(numbered(), 1).await;

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(most_in_flight(&app), 1);
    assert_every_page_written_in_order(&app).await;
}

#[tokio::test]
async fn linked_pages_are_fetched_one_at_a_time_while_writing() {
    let app = app(links(), 4).await;

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(most_in_flight(&app), 1, "a link names only the next page");
    assert_every_page_written_in_order(&app).await;
}

#[tokio::test]
async fn a_429_leaves_one_request_at_a_time_for_the_rest_of_the_run() {
    let app = app(numbered(), 4).await;
    app.api.push_fault(Fault::Pass);
    app.api.push_fault(Fault::Status {
        status: 429,
        body: r#"{"status":429,"error":"Too Many Requests"}"#.into(),
        retry_after: Some("0".into()),
    });

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_every_page_written_in_order(&app).await;
    assert_eq!(app.events("retry").await, 1);
    let requests = app.api.requests();
    let pages: Vec<Option<&str>> = requests.iter().map(|r| r.query_value("page")).collect();
    let retried = (1..pages.len())
        .find(|&i| pages[..i].contains(&pages[i]))
        .expect("the page answered 429 was asked again");
    // The requests sent before the 429 was seen (at most three besides it) may still be
    // answered together; every request after them goes alone.
    let later: Vec<usize> = requests[retried + 1..]
        .iter()
        .map(|r| r.in_flight)
        .collect();
    assert!(later.len() > 3, "pages left after the retry: {later:?}");
    assert!(
        later.iter().skip(3).all(|n| *n == 1),
        "one at a time after the 429: {later:?}"
    );
}

#[tokio::test]
async fn a_failed_page_fails_the_run_after_the_pages_before_it_are_written() {
    let mut app = app(numbered(), 4).await;
    app.max_retries = 0;
    app.api.push_fault(Fault::Pass);
    app.api.push_fault(Fault::Pass);
    app.api
        .push_fault(json_response(404, r#"{"status":404,"error":"Not Found"}"#));

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Failed);
    let failed_page: i64 = app
        .api
        .requests()
        .get(2)
        .and_then(|r| r.query_value("page").map(|p| p.parse().expect("page")))
        .expect("a third request for a numbered page");
    let written = app.scalar("SELECT pages FROM sync_runs").await;
    assert_eq!(
        written,
        failed_page - 1,
        "every page before the failed one, none after"
    );
    assert_eq!(app.live_groups().await, written * PER_PAGE as i64);
    assert_eq!(
        app.watermark().await,
        None,
        "a failed run moves no watermark"
    );
}
