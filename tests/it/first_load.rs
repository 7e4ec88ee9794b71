//! A first load writes its rows before it builds the secondary indexes (issue 9), and
//! however it ends, the indexes are there afterwards, as the migrations made them.

use xtrakit_sync::domain::{RunStatus, Scope};
use xtrakit_sync::store::{Store, LOAD_INDEXES};
use xtrakit_sync::sync::RunReport;

use crate::fake_api::{FakeOptions, Fault, LinkLocation, Pagination};
use crate::helpers::{
    eventually, server_error, slow, spawn_app_with, tick, try_scalar, TestApp, FULL,
};

const PER_PAGE: usize = 4;
const GROUPS: usize = 12;

async fn paginated_app() -> TestApp {
    spawn_app_with(FakeOptions {
        groups: GROUPS,
        pagination: Pagination::NextUrl {
            location: LinkLocation::TopLevel,
            absolute: true,
        },
        per_page: PER_PAGE,
        ..FakeOptions::default()
    })
    .await
}

/// `name: sql` of every index on the tables a page writes, as `sqlite_schema` has them.
async fn load_indexes(app: &TestApp) -> Vec<String> {
    let pool = app.db().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL \
         AND tbl_name IN ('customer_groups', 'customer_group_history') ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .expect("schema");
    pool.close().await;
    rows.into_iter().map(|(n, s)| format!("{n}: {s}")).collect()
}

/// The indexes of a database the migrations have just made.
async fn as_migrated(app: &TestApp) -> Vec<String> {
    Store::open(&app.database.location)
        .await
        .expect("opens")
        .close()
        .await;
    load_indexes(app).await
}

/// The indexes while run `run_id` (the next) has committed its first page and waits for its
/// second, held back by the fake; then the run's report.
async fn indexes_mid_run(app: &TestApp, run_id: i64) -> (Vec<String>, RunReport) {
    app.api.push_fault(Fault::Pass);
    app.api.push_fault(slow(2));
    let syncing = tokio::spawn({
        let syncer = app.syncer().await;
        async move { tick(&syncer).await }
    });
    let committed = format!("SELECT pages FROM sync_runs WHERE id = {run_id}");
    eventually("the run's first page committed", || async {
        try_scalar(app, &committed)
            .await
            .filter(|pages| *pages >= 1)
    })
    .await;
    let during = load_indexes(app).await;
    (during, syncing.await.expect("the sync task"))
}

#[tokio::test]
async fn a_first_load_writes_pages_without_the_indexes_then_builds_them() {
    let app = paginated_app().await;
    let migrated = as_migrated(&app).await;
    assert_eq!(migrated.len(), LOAD_INDEXES.len());

    let (during, report) = indexes_mid_run(&app, 1).await;

    assert!(
        during.is_empty(),
        "indexes during the first load: {during:?}"
    );
    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(load_indexes(&app).await, migrated);
    assert_eq!(app.live_groups().await, GROUPS as i64);
}

#[tokio::test]
async fn a_run_into_a_scope_that_has_rows_keeps_the_indexes() {
    let app = paginated_app().await;
    assert_eq!(app.sync().await.status, RunStatus::Success);
    let migrated = as_migrated(&app).await;

    let (during, report) = indexes_mid_run(&app, 2).await;

    assert_eq!(during, migrated);
    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
}

#[tokio::test]
async fn a_first_load_that_fails_still_leaves_the_indexes_built() {
    let mut app = paginated_app().await;
    app.max_retries = 0;
    let migrated = as_migrated(&app).await;
    app.api.push_fault(Fault::Pass);
    app.api.push_fault(server_error());

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        app.live_groups().await,
        PER_PAGE as i64,
        "the first page stays"
    );
    assert_eq!(load_indexes(&app).await, migrated);
}

#[tokio::test]
async fn indexes_a_crashed_load_left_dropped_are_built_when_the_database_opens() {
    let app = paginated_app().await;
    let migrated = as_migrated(&app).await;
    let store = Store::open(&app.database.location).await.expect("opens");
    store.suspend_indexes().await.expect("dropped");
    store.close().await;
    assert!(load_indexes(&app).await.is_empty());

    Store::open(&app.database.location)
        .await
        .expect("opens")
        .close()
        .await;

    assert_eq!(load_indexes(&app).await, migrated);
}

#[tokio::test]
async fn a_first_load_meeting_an_id_another_scope_holds_moves_the_group_and_stores_the_rest() {
    let app = spawn_app_with(FakeOptions {
        groups: GROUPS,
        business_codes: vec![1, 2],
        pagination: Pagination::NextUrl {
            location: LinkLocation::TopLevel,
            absolute: true,
        },
        per_page: PER_PAGE,
        ..FakeOptions::default()
    })
    .await;
    let first = app.sync_scopes(&[Scope::business(1)], FULL).await.remove(0);
    assert_eq!(first.status, RunStatus::Success, "{:?}", first.error);
    // Group 1 moves from business code 1 to 2 before code 2 is first synced.
    app.api.put_group(1, 2, "Moved", "2025-06-01 00:00:00");

    let report = app.sync_scopes(&[Scope::business(2)], FULL).await.remove(0);

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    let in_two = app
        .scalar("SELECT count(*) FROM customer_groups WHERE business_code = 2")
        .await;
    assert_eq!(in_two, GROUPS as i64 / 2 + 1);
    assert_eq!(
        app.text("SELECT group_name FROM customer_groups WHERE id = 1")
            .await,
        Some("Moved".into())
    );
    assert_eq!(report.tally.inserted + report.tally.updated, in_two as u64);
    assert_eq!(
        report.tally.updated, 1,
        "the moved group is an update, not an insert"
    );
}

#[tokio::test]
async fn a_first_load_over_a_slow_network_builds_its_indexes_early_and_keeps_them() {
    // 10 pages, each answered 40 ms late: the writes of 4 rows are not what the run waits on.
    let app = spawn_app_with(FakeOptions {
        groups: 40,
        pagination: Pagination::NextUrl {
            location: LinkLocation::TopLevel,
            absolute: true,
        },
        per_page: PER_PAGE,
        latency: std::time::Duration::from_millis(40),
        ..FakeOptions::default()
    })
    .await;
    let migrated = as_migrated(&app).await;
    // Seven pages as usual, then the eighth held back while the indexes are looked at.
    for _ in 0..7 {
        app.api.push_fault(Fault::Pass);
    }
    app.api.push_fault(slow(2));
    let syncing = tokio::spawn({
        let syncer = app.syncer().await;
        async move { tick(&syncer).await }
    });
    eventually("seven pages committed", || async {
        try_scalar(&app, "SELECT pages FROM sync_runs WHERE id = 1")
            .await
            .filter(|pages| *pages >= 7)
    })
    .await;

    assert_eq!(load_indexes(&app).await, migrated, "built before the end");
    let report = syncing.await.expect("the sync task");
    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(load_indexes(&app).await, migrated);
    assert_eq!(app.live_groups().await, 40);
}

/// A first load whose history row for group `failing_id` is refused (a trigger stands in for
/// a disk that fills or fails while a page commits): that page's write has already returned
/// when its commit fails (see `store::parked`).
async fn first_load_failing_at(failing_id: i64) -> (TestApp, RunReport) {
    let app = paginated_app().await;
    as_migrated(&app).await;
    app.execute(&format!(
        "CREATE TRIGGER refuse_history BEFORE INSERT ON customer_group_history \
         WHEN NEW.group_id = {failing_id} BEGIN SELECT RAISE(ABORT, 'history refused'); END"
    ))
    .await;
    let report = app.sync_with(FULL).await;
    (app, report)
}

#[tokio::test]
async fn a_first_load_page_whose_commit_fails_after_its_write_returned_fails_the_run() {
    // Group 6 is on the second of three pages.
    let (app, report) = first_load_failing_at(6).await;

    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    let error = report.error.clone().unwrap_or_default();
    assert!(error.contains("history refused"), "{error}");
    assert_eq!(
        app.live_groups().await,
        PER_PAGE as i64,
        "only the first page"
    );
    let counted = app.scalar("SELECT pages FROM sync_runs WHERE id = 1").await;
    assert_eq!(counted, 1, "the failed page's counters rolled back with it");
    assert_eq!(app.last_run_status().await, "failed");
    assert_eq!(app.integrity().await.as_deref(), Some("ok"));

    app.execute("DROP TRIGGER refuse_history").await;
    let next = app.sync_with(FULL).await;
    assert_eq!(next.status, RunStatus::Success, "{:?}", next.error);
    assert_eq!(app.live_groups().await, GROUPS as i64);
    let history = app
        .scalar("SELECT count(*) FROM customer_group_history")
        .await;
    assert_eq!(history, GROUPS as i64);
}

#[tokio::test]
async fn a_first_load_whose_last_commit_fails_fails_the_run_and_keeps_the_watermark() {
    // Group 10 is on the last page: nothing after it would have waited for its commit.
    let (app, report) = first_load_failing_at(10).await;

    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    assert_eq!(
        app.live_groups().await,
        2 * PER_PAGE as i64,
        "the first two pages"
    );
    let watermark = app
        .text("SELECT CAST(watermark_after AS TEXT) FROM sync_runs WHERE id = 1")
        .await;
    assert_eq!(watermark, None, "a failed run moves no watermark");
    assert_eq!(app.integrity().await.as_deref(), Some("ok"));
}
