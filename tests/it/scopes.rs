//! Business-code scopes (each with its own watermark, state and run rows) and the recovery
//! of runs left `running` by a dead process, which happens only under the sync lock.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use xtrakit_sync::domain::{RunStatus, Scope, Trigger};
use xtrakit_sync::lock::{self, LockError};
use xtrakit_sync::outcome::SyncError;
use xtrakit_sync::sync::{LockPolicy, SyncRequest};

use crate::fake_api::{FakeOptions, MetaLocation, Pagination};
use crate::helpers::{spawn_app, spawn_app_with, Ask, TestApp};

fn both() -> [Scope; 2] {
    [Scope::business(1), Scope::business(2)]
}

/// Ten groups, odd ids under business code 1 and even ids under 2, two per page.
async fn two_scope_app() -> TestApp {
    spawn_app_with(FakeOptions {
        groups: 10,
        business_codes: vec![1, 2],
        pagination: Pagination::Numbered {
            location: MetaLocation::InMeta,
        },
        per_page: 2,
        ..FakeOptions::default()
    })
    .await
}

async fn sync_both(app: &TestApp, ask: Ask) {
    let reports = app.sync_scopes(&both(), ask).await;
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r.status, RunStatus::Success, "{}: {:?}", r.scope, r.error);
    }
}

/// A run's scope, status and count of records received.
#[derive(Debug, sqlx::FromRow)]
struct ScopeRun {
    business_code: Option<i64>,
    status: String,
    received: i64,
}

/// One `sync_state` row.
#[derive(Debug, sqlx::FromRow)]
struct StateRow {
    scope: String,
    business_code: Option<i64>,
    watermark: Option<String>,
}

async fn state_rows(app: &TestApp) -> Vec<StateRow> {
    let pool = app.db().await;
    let rows = sqlx::query_as::<_, StateRow>(
        "SELECT scope, business_code, watermark FROM sync_state ORDER BY scope",
    )
    .fetch_all(&pool)
    .await
    .expect("sync_state");
    pool.close().await;
    rows
}

#[tokio::test]
async fn every_request_of_a_scope_carries_its_business_code() {
    let app = two_scope_app().await;

    sync_both(&app, Ask::default()).await;

    let requests = app.api.requests();
    let codes: Vec<(Option<&str>, Option<&str>)> = requests
        .iter()
        .map(|r| (r.query_value("business_code"), r.query_value("page")))
        .collect();
    assert_eq!(
        codes,
        [
            (Some("1"), None),
            (Some("1"), Some("2")),
            (Some("1"), Some("3")),
            (Some("2"), None),
            (Some("2"), Some("2")),
            (Some("2"), Some("3")),
        ]
    );
    assert_eq!(app.live_groups().await, 10);
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_groups WHERE business_code = (2 - id % 2)")
            .await,
        10,
        "each group stored under its own business code"
    );
}

#[tokio::test]
async fn each_scope_keeps_one_state_row_and_its_own_watermark() {
    let app = two_scope_app().await;
    sync_both(&app, Ask::default()).await;
    let newest = |code: i64| {
        format!("SELECT max(updated_at) FROM customer_groups WHERE business_code = {code}")
    };
    let first = state_rows(&app).await;
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(first[0].scope, "business_code=1");
    assert_eq!(first[0].business_code, Some(1));
    assert_eq!(first[0].watermark, app.text(&newest(1)).await);
    assert_eq!(first[1].scope, "business_code=2");
    assert_eq!(first[1].business_code, Some(2));
    assert_eq!(first[1].watermark, app.text(&newest(2)).await);
    app.api.update_groups(&[2], "2026-11-20 10:00:00");

    sync_both(&app, Ask::default()).await;

    let second = state_rows(&app).await;
    assert_eq!(second.len(), 2, "still one row per scope: {second:?}");
    assert_eq!(
        second[0].watermark, first[0].watermark,
        "scope 1 saw nothing new"
    );
    assert_eq!(second[1].watermark.as_deref(), Some("2026-11-20 10:00:00"));
    assert_eq!(
        app.scalar("SELECT count(*) FROM sync_state WHERE scope = 'all'")
            .await,
        0
    );
}

#[tokio::test]
async fn each_scope_gets_its_own_run_row_in_every_run() {
    let app = two_scope_app().await;

    sync_both(&app, Ask::default()).await;
    sync_both(&app, Ask::default()).await;

    let pool = app.db().await;
    let runs = sqlx::query_as::<_, ScopeRun>(
        "SELECT business_code, status, received FROM sync_runs ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let codes: Vec<Option<i64>> = runs.iter().map(|r| r.business_code).collect();
    assert_eq!(codes, [Some(1), Some(2), Some(1), Some(2)]);
    assert!(runs.iter().all(|r| r.status == "success"), "{runs:?}");
    assert_eq!(
        (runs[0].received, runs[1].received),
        (5, 5),
        "each run counts its scope only"
    );
}

#[tokio::test]
async fn full_run_of_one_scope_never_marks_another_scopes_rows_deleted() {
    let app = two_scope_app().await;
    sync_both(&app, Ask::default()).await;
    app.api.remove_groups(&[1]);

    let reports = app
        .sync_scopes(
            &[Scope::business(1)],
            Ask {
                full: true,
                allow_mass_delete: false,
            },
        )
        .await;

    assert_eq!(
        reports[0].status,
        RunStatus::Success,
        "{:?}",
        reports[0].error
    );
    assert_eq!(reports[0].tally.deleted, 1);
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_groups WHERE deleted_at IS NOT NULL AND id <> 1")
            .await,
        0,
        "scope 2's groups, absent from scope 1's responses, stay live"
    );
    assert!(app
        .text("SELECT deleted_at FROM customer_groups WHERE id = 1")
        .await
        .is_some());
    assert_eq!(app.live_groups().await, 9);
}

#[tokio::test]
async fn latest_sync_runs_has_one_row_per_scope() {
    let app = two_scope_app().await;
    sync_both(&app, Ask::default()).await;
    sync_both(&app, Ask::default()).await;

    let pool = app.db().await;
    let latest: Vec<(Option<i64>, i64)> =
        sqlx::query_as("SELECT business_code, id FROM latest_sync_runs ORDER BY business_code")
            .fetch_all(&pool)
            .await
            .unwrap();
    let newest: Vec<(Option<i64>, i64)> = sqlx::query_as(
        "SELECT business_code, max(id) FROM sync_runs GROUP BY business_code \
         ORDER BY business_code",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;

    assert_eq!(latest.len(), 2, "{latest:?}");
    assert_eq!(latest, newest);
}

/// A run row as a process that died mid-run would have left it.
async fn insert_running_row(app: &TestApp) -> i64 {
    let pool = app.db().await;
    let id = sqlx::query_scalar(
        "INSERT INTO sync_runs (started_at, trigger, mode, status) \
         VALUES ('2026-01-01 00:00:00', 'schedule', 'incremental', 'running') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("running row inserted");
    pool.close().await;
    id
}

async fn run_row(app: &TestApp, id: i64) -> (String, Option<String>, Option<String>) {
    let pool = app.db().await;
    let row = sqlx::query_as("SELECT status, finished_at, error FROM sync_runs WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("run row");
    pool.close().await;
    row
}

#[tokio::test]
async fn run_left_running_by_a_dead_process_becomes_interrupted_at_the_next_sync() {
    let app = spawn_app(2).await;
    app.sync().await;
    let orphan = insert_running_row(&app).await;

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    let (status, finished_at, error) = run_row(&app, orphan).await;
    assert_eq!(status, "interrupted");
    assert!(finished_at.is_some());
    assert!(error.is_some(), "the row says why");
    assert_eq!(
        app.scalar("SELECT count(*) FROM sync_runs WHERE status = 'running'")
            .await,
        0
    );
}

#[tokio::test]
async fn running_row_is_untouched_while_another_sync_holds_the_lock() {
    let app = spawn_app(2).await;
    app.sync().await;
    let live = insert_running_row(&app).await;
    let runs_before = app.scalar("SELECT count(*) FROM sync_runs").await;
    app.api.clear_requests();
    let held = lock::try_acquire(&app.db_path)
        .expect("lock file opens")
        .expect("lock is free");

    let syncer = app.syncer().await;
    let request = SyncRequest {
        trigger: Trigger::Once,
        force_full: false,
        full_due_since: None,
        allow_mass_delete: false,
    };
    let result = syncer
        .sync_all(
            &[Scope::ALL],
            request,
            LockPolicy::Wait(Duration::from_millis(200)),
            &CancellationToken::new(),
        )
        .await;
    syncer.store.close().await;
    drop(held);

    assert!(
        matches!(result, Err(SyncError::Lock(LockError::Busy { .. }))),
        "{result:?}"
    );
    assert_eq!(
        run_row(&app, live).await,
        ("running".to_owned(), None, None)
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM sync_runs").await,
        runs_before
    );
    assert_eq!(app.api.request_count(), 0, "no request without the lock");
}
