//! Groups the API stops listing: marked deleted by full runs only, within the mass-delete
//! guard, restored when they come back.

use xtrakit_sync::domain::{Mode, RunStatus};

use crate::fake_api::{Fault, MetaLocation, Pagination};
use crate::helpers::{spawn_app, synced_app, TestApp, FULL, FULL_MASS_DELETE};

async fn ids(app: &TestApp, sql: &str) -> Vec<i64> {
    let pool = app.db().await;
    let ids: Vec<i64> = sqlx::query_scalar(sql).fetch_all(&pool).await.expect(sql);
    pool.close().await;
    ids
}

async fn last_run_deleted(app: &TestApp) -> i64 {
    app.scalar("SELECT deleted FROM sync_runs ORDER BY id DESC LIMIT 1")
        .await
}

#[tokio::test]
async fn full_run_marks_groups_the_api_dropped_as_deleted() {
    let app = synced_app(10).await;
    app.api.remove_groups(&[2, 5, 7]);

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.deleted, 3);
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_groups").await,
        10,
        "deleted groups are kept, not removed"
    );
    assert_eq!(app.deleted_ids().await, vec![2, 5, 7]);
    assert_eq!(
        ids(
            &app,
            "SELECT group_id FROM customer_group_history WHERE change = 'delete' ORDER BY group_id"
        )
        .await,
        vec![2, 5, 7]
    );
    assert_eq!(last_run_deleted(&app).await, 3);
    assert_eq!(
        app.scalar("SELECT count(*) FROM sync_runs WHERE status = 'success'")
            .await,
        2
    );
}

#[tokio::test]
async fn active_customer_groups_view_excludes_deleted_groups() {
    let app = synced_app(10).await;
    app.api.remove_groups(&[2, 5, 7]);

    app.sync_with(FULL).await;

    let active = ids(&app, "SELECT id FROM active_customer_groups ORDER BY id").await;
    assert_eq!(active, vec![1, 3, 4, 6, 8, 9, 10]);
}

#[tokio::test]
async fn incremental_run_never_marks_deletions() {
    let app = synced_app(10).await;
    // The API returns every remaining group even to an incremental request, so a run that
    // wrongly reconciled would see exactly 3 missing, well within the guard.
    app.api.honour_updated_at_filter(false);
    app.api.remove_groups(&[2, 5, 7]);
    let before = app.snapshot().await;

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.mode, Mode::Incremental);
    assert_eq!(report.tally.deleted, 0);
    assert_eq!(app.deleted_ids().await, Vec::<i64>::new());
    assert_eq!(last_run_deleted(&app).await, 0);
    assert_eq!(app.events("deletion_guard").await, 0);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn mass_delete_guard_marks_nothing_and_warns() {
    let app = synced_app(10).await;
    app.api.remove_groups(&[1, 2, 3, 4, 5, 6]);
    let before = app.snapshot().await;

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.deleted, 0);
    assert_eq!(app.deleted_ids().await, Vec::<i64>::new());
    assert_eq!(app.live_groups().await, 10);
    assert_eq!(last_run_deleted(&app).await, 0);
    assert_eq!(app.snapshot().await, before);
    let (level, detail): (String, String) =
        sqlx::query_as("SELECT level, detail FROM sync_log WHERE event = 'deletion_guard'")
            .fetch_one(&app.db().await)
            .await
            .expect("one deletion_guard event");
    assert_eq!(level, "warn");
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["missing"], 6, "{detail}");
    assert_eq!(detail["live"], 10, "{detail}");
    assert_eq!(app.events("deletion_guard").await, 1);
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_group_history WHERE change = 'delete'")
            .await,
        0
    );
}

#[tokio::test]
async fn full_run_held_back_by_the_guard_does_not_count_as_verified_in_full() {
    let app = synced_app(10).await;
    // A date no run writes: a wrongly updated timestamp differs from it even within the
    // same second, so the test needs no sleep.
    let first_full = app
        .mark_verified_long_ago()
        .await
        .expect("the first run was full");
    app.api.remove_groups(&[1, 2, 3, 4, 5, 6]);

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(app.events("deletion_guard").await, 1);
    assert_eq!(app.last_full_sync_at().await, Some(first_full.clone()));
    let success = app
        .text("SELECT last_success_at FROM sync_state")
        .await
        .unwrap();
    assert!(
        success > first_full,
        "the run itself still succeeded: {success}"
    );
}

#[tokio::test]
async fn dropping_exactly_the_guard_fraction_is_allowed() {
    let app = synced_app(10).await;
    app.api.remove_groups(&[1, 2, 3, 4, 5]);

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(app.deleted_ids().await, vec![1, 2, 3, 4, 5]);
    assert_eq!(app.events("deletion_guard").await, 0);
}

#[tokio::test]
async fn allow_mass_delete_lifts_the_guard_for_that_run() {
    let app = synced_app(10).await;
    app.api.remove_groups(&[1, 2, 3, 4, 5, 6]);

    let report = app.sync_with(FULL_MASS_DELETE).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.deleted, 6);
    assert_eq!(app.deleted_ids().await, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(last_run_deleted(&app).await, 6);
    assert_eq!(app.events("deletion_guard").await, 0);
    assert_eq!(app.live_groups().await, 4);
}

#[tokio::test]
async fn deleted_group_that_reappears_is_restored() {
    let app = synced_app(10).await;
    app.api.remove_groups(&[4]);
    app.sync_with(FULL).await;
    assert_eq!(app.deleted_ids().await, vec![4]);
    app.api.generate(10);

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.restored, 1);
    assert_eq!(app.deleted_ids().await, Vec::<i64>::new());
    assert_eq!(app.live_groups().await, 10);
    assert_eq!(
        app.scalar("SELECT restored FROM sync_runs ORDER BY id DESC LIMIT 1")
            .await,
        1
    );
    let changes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT h.change, h.sync_run_id FROM customer_group_history AS h \
         WHERE h.group_id = 4 ORDER BY h.history_id",
    )
    .fetch_all(&app.db().await)
    .await
    .unwrap();
    let last_run = app.scalar("SELECT max(id) FROM sync_runs").await;
    let kinds: Vec<&str> = changes.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(kinds, ["insert", "delete", "restore"]);
    let (_, restored_by) = &changes[2];
    assert_eq!(*restored_by, last_run, "restored by the last run");
}

#[tokio::test]
async fn full_run_that_fails_midway_marks_nothing_deleted() {
    let mut app = spawn_app(10).await;
    // One request at a time, so the faults below meet the pages in order.
    app.options.max_concurrent_requests = 1;
    app.api.set_pagination(
        Pagination::Numbered {
            location: MetaLocation::TopLevel,
        },
        3,
    );
    assert_eq!(app.sync().await.status, RunStatus::Success);
    app.api.remove_groups(&[8, 9]);
    let before = app.snapshot().await;
    let watermark = app.watermark().await;
    app.api.push_fault(Fault::Pass);
    for _ in 0..=app.max_retries {
        app.api.push_fault(Fault::Status {
            status: 500,
            body: "{\"status\":500,\"error\":\"Internal Server Error\"}".into(),
            retry_after: None,
        });
    }

    let report = app.sync_with(FULL).await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.tally.pages, 1, "page 1 arrived, page 2 never did");
    assert_eq!(app.deleted_ids().await, Vec::<i64>::new());
    assert_eq!(last_run_deleted(&app).await, 0);
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_group_history WHERE change = 'delete'")
            .await,
        0
    );
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.watermark().await, watermark);
}
