//! A run's end that cannot be written when the run ends (issue 14, item 4): the next sync
//! writes it, with the run's true reason, before crash recovery could relabel the row as
//! left by a dead process. Slow by nature: the lock must outlast two 30 s busy timeouts.

use std::time::Duration;

use xtrakit_sync::domain::RunStatus;

use crate::fake_api::Fault;
use crate::helpers::{
    assert_exit, hold_write_lock, release_write_lock, spawn_app, tick, wait_until,
};

#[tokio::test]
async fn a_run_end_blocked_by_an_analysts_lock_is_written_by_the_next_sync_with_its_true_reason() {
    let app = spawn_app(3).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    app.api.put_group(100, 1, "Pending", "2099-01-01 00:00:00");
    let syncer = app.syncer().await;
    app.api.clear_requests();
    app.api.push_fault(Fault::Slow {
        delay: Duration::from_millis(1500),
    });
    let analyst = async {
        wait_until("the request to reach the fake", || {
            app.api.request_count() > 0
        })
        .await;
        hold_write_lock(&app).await
    };

    // The page waits 30 s on the analyst and fails; so does the run's end.
    let (blocked, analyst) = tokio::join!(tick(&syncer), analyst);

    assert_eq!(
        (blocked.status, blocked.exit_code),
        (RunStatus::Failed, 4),
        "{blocked:?}"
    );
    release_write_lock(analyst).await;
    assert_eq!(
        app.last_run_status().await,
        "running",
        "the end could not be written"
    );

    let next = tick(&syncer).await;

    assert_eq!(next.status, RunStatus::Success, "{next:?}");
    syncer.store.close().await;
    let blocked_run = app
        .text(&format!(
            "SELECT status || ' | ' || coalesce(error, '') FROM sync_runs WHERE id = {}",
            blocked.run_id.expect("a run row")
        ))
        .await
        .unwrap_or_default();
    assert!(
        blocked_run.starts_with("failed | ") && blocked_run.contains("database is locked"),
        "the run kept its true reason: {blocked_run}"
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM sync_runs WHERE error LIKE '%died%'")
            .await,
        0
    );
    assert_eq!(app.live_groups().await, 4, "the pending group arrived");
}
