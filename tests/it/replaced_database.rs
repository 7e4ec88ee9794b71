//! A database file deleted while a run writes into it (issue 14, item 2): the run must not
//! report success into the unlinked file, and the next sync writes into a new one.

use std::time::Duration;

use xtrakit_sync::domain::RunStatus;

use crate::fake_api::Fault;
use crate::helpers::{spawn_app, tick, wait_until};

#[tokio::test]
async fn a_run_whose_database_is_deleted_under_it_does_not_report_success_and_the_next_one_writes_a_new_file(
) {
    let app = spawn_app(6).await;
    let syncer = app.syncer().await;
    app.api.push_fault(Fault::Slow {
        delay: Duration::from_millis(1500),
    });
    let delete = async {
        wait_until("the request to reach the fake", || {
            app.api.request_count() > 0
        })
        .await;
        std::fs::remove_file(&app.db_path).expect("database deleted");
    };

    let (report, ()) = tokio::join!(tick(&syncer), delete);

    assert_eq!(
        (report.status, report.exit_code),
        (RunStatus::Failed, 4),
        "{report:?}"
    );
    let error = report.error.unwrap_or_default();
    assert!(
        error.contains("deleted or replaced during the run"),
        "{error}"
    );
    assert!(!app.db_path.exists(), "nothing recreated the file yet");

    let next = tick(&syncer).await;

    assert_eq!(next.status, RunStatus::Success, "{next:?}");
    syncer.store.close().await;
    assert_eq!(app.live_groups().await, 6, "the new file has the groups");
    assert_eq!(app.last_run_status().await, "success");
}
