//! Two daemons and a `--once` on one database, sharing three scopes: every scope is synced,
//! two runs of one scope never overlap, and a daemon killed with SIGKILL in the middle of a
//! run leaves the other carrying on (and its run recovered as `interrupted`). On PostgreSQL
//! (`XTRAKIT_TEST_POSTGRES`) the processes share the scopes through advisory locks; on
//! SQLite the database's lock file makes them take turns. Overlap is seen two ways: by the
//! run rows' times, and by the fake, which counts the requests of one scope being answered
//! at once (one run of a linked listing asks for one page at a time).

use std::time::Duration;

use crate::fake_api::{FakeOptions, LinkLocation, Pagination};
use crate::helpers::{
    assert_exit, eventually, send_signal, spawn_app_with, until_at_least, Daemon, TestApp,
    EVERY_SECOND,
};

const CODES: &str = "1,2,3";

#[derive(Debug, sqlx::FromRow)]
struct ScopeRun {
    business_code: Option<i64>,
    status: String,
    started_at: String,
    finished_at: Option<String>,
}

async fn runs(app: &TestApp) -> Vec<ScopeRun> {
    let pool = app.db().await;
    let rows = sqlx::query_as::<_, ScopeRun>(
        "SELECT business_code, status, started_at, finished_at FROM sync_runs \
         ORDER BY business_code, started_at, id",
    )
    .fetch_all(&pool)
    .await
    .expect("sync_runs");
    pool.close().await;
    rows
}

/// 60 groups over three business codes, 5 a page linked by `next_page_url`, each answer
/// 50 ms late: a run of one scope takes about 4 round trips.
async fn shared_app() -> TestApp {
    spawn_app_with(FakeOptions {
        groups: 60,
        business_codes: vec![1, 2, 3],
        per_page: 5,
        pagination: Pagination::NextUrl {
            location: LinkLocation::TopLevel,
            absolute: false,
        },
        latency: Duration::from_millis(50),
        ..FakeOptions::default()
    })
    .await
}

/// Within each scope, every run ended before the next one started.
fn assert_no_scope_overlaps(runs: &[ScopeRun]) {
    for pair in runs.windows(2) {
        if pair[0].business_code != pair[1].business_code {
            continue;
        }
        let end = pair[0].finished_at.as_deref().unwrap_or("9999");
        assert!(
            end <= pair[1].started_at.as_str(),
            "two runs of one scope overlap: {pair:#?}"
        );
    }
}

#[tokio::test]
async fn two_daemons_and_a_once_sync_every_scope_and_never_overlap_one() {
    let app = shared_app().await;
    let codes = ["--business-code", CODES];
    let mut first = Daemon::start(&app, EVERY_SECOND, &codes, &[]);
    let mut second = Daemon::start(&app, EVERY_SECOND, &codes, &[]);
    let once = app
        .run_binary(&["--once", "--business-code", CODES], &[])
        .await;
    assert_exit(&once, 0);
    for code in 1..=3 {
        let sql = format!(
            "SELECT count(*) FROM sync_runs WHERE business_code = {code} AND status = 'success'"
        );
        until_at_least(&app, "three successful runs of every scope", &sql, 3).await;
    }
    first.assert_running();
    second.assert_running();
    // Before the daemons stop: a run that overlapped another of its scope would have been
    // taken for a dead one and marked `interrupted` by it.
    let before_stop = runs(&app).await;
    first.sigterm_and_expect_exit_0().await;
    second.sigterm_and_expect_exit_0().await;

    assert!(
        before_stop
            .iter()
            .all(|r| r.status == "success" || r.status == "running"),
        "every finished run succeeded: {before_stop:#?}"
    );
    let runs = runs(&app).await;
    let stopped = runs.iter().filter(|r| r.status == "interrupted").count();
    assert!(
        stopped <= 2 && runs.iter().all(|r| r.status != "running"),
        "only the runs the two stops cut are interrupted: {runs:#?}"
    );
    assert_no_scope_overlaps(&runs);
    let most = app
        .api
        .requests()
        .iter()
        .map(|r| r.in_flight_same_scope)
        .max();
    assert_eq!(most, Some(1), "never two requests of one scope at once");
    assert_eq!(app.live_groups().await, 60);
}

#[tokio::test]
async fn a_daemon_killed_mid_run_leaves_the_other_syncing_and_its_run_interrupted() {
    let app = shared_app().await;
    let codes = ["--business-code", CODES];
    let mut doomed = Daemon::start(&app, EVERY_SECOND, &codes, &[]);
    until_at_least(
        &app,
        "a run in flight",
        "SELECT count(*) FROM sync_runs WHERE status = 'running'",
        1,
    )
    .await;
    let mut survivor = Daemon::start(&app, EVERY_SECOND, &codes, &[]);
    send_signal(doomed.pid(), "KILL").await;
    let killed_at = app
        .scalar("SELECT coalesce(max(id), 0) FROM sync_runs")
        .await;

    // The survivor recovers the dead run under its scope's lock, then syncs every scope.
    eventually("the killed run marked interrupted", || async {
        let interrupted = app
            .scalar("SELECT count(*) FROM sync_runs WHERE status = 'interrupted'")
            .await;
        (interrupted >= 1).then_some(())
    })
    .await;
    for code in 1..=3 {
        let sql = format!(
            "SELECT count(*) FROM sync_runs WHERE business_code = {code} \
             AND status = 'success' AND id > {killed_at}"
        );
        until_at_least(&app, "a later successful run of every scope", &sql, 1).await;
    }
    survivor.assert_running();
    survivor.sigterm_and_expect_exit_0().await;
    assert!(doomed.exit_within(Duration::from_secs(5)).await.is_some());

    let runs = runs(&app).await;
    assert!(
        runs.iter().all(|r| r.status != "running"),
        "nothing is left running: {runs:#?}"
    );
    assert_no_scope_overlaps(&runs);
    assert_eq!(app.live_groups().await, 60);
    let interrupted = runs.iter().filter(|r| r.status == "interrupted").count();
    assert!(interrupted <= 3, "only the killed runs: {runs:#?}");
}
