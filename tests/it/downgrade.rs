//! A database migrated by a newer xtrakit-sync (an applied migration this binary does not
//! know) is refused by every command that writes it: one line that says what to do, exit 5,
//! which the unit's `RestartPreventExitStatus=` keeps from restarting in a loop.

use crate::helpers::{assert_exit, spawn_app, stderr, TestApp};

/// The migration a future version applied.
const FUTURE_VERSION: &str = "29991231000000";

/// A database this binary created, then "upgraded" by a newer one.
async fn database_from_a_newer_version(app: &TestApp) {
    assert_exit(&app.run_binary(&["migrate"], &[]).await, 0);
    let pool = app.db().await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?, 'customer group tags', 1, x'00', 0)",
    )
    .bind(FUTURE_VERSION.parse::<i64>().expect("version"))
    .execute(&pool)
    .await
    .expect("future migration recorded");
    pool.close().await;
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused_with_exit_5_and_what_to_do() {
    let app = spawn_app(2).await;
    database_from_a_newer_version(&app).await;

    let commands = [
        &["--once"][..],
        &["migrate"],
        &["run"],
        &["state", "reset", "--scope", "all"],
    ];
    for command in commands {
        let out = app.run_binary(command, &[]).await;

        assert_exit(&out, 5);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{command:?}: {err}");
        for needed in [
            "was created by a newer xtrakit-sync",
            FUTURE_VERSION,
            "customer group tags",
            "install that version",
            "restore a backup",
        ] {
            assert!(
                err.contains(needed),
                "{command:?}: {needed:?} missing: {err}"
            );
        }
    }
    assert_eq!(app.api.request_count(), 0);
    assert_eq!(app.scalar("SELECT count(*) FROM sync_runs").await, 0);
}

#[tokio::test]
async fn status_still_reads_a_database_from_a_newer_version() {
    let app = spawn_app(2).await;
    database_from_a_newer_version(&app).await;

    let out = app.run_binary(&["status"], &[]).await;

    assert_exit(&out, 0);
}
