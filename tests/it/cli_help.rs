//! Each subcommand's `--help` lists the options it uses and no others.

use crate::helpers::{assert_exit, spawn_app, stdout};

const SYNC_ONLY: [&str; 6] = [
    "--base-url",
    "--api-key-file",
    "--schedule",
    "--full-sync-schedule",
    "--once",
    "--allow-mass-delete",
];

async fn help(command: &str) -> String {
    let app = spawn_app(0).await;
    let out = app.run_binary(&[command, "--help"], &[]).await;
    assert_exit(&out, 0);
    stdout(&out)
}

#[tokio::test]
async fn status_migrate_and_check_config_list_only_their_own_options() {
    let status = help("status").await;
    let migrate = help("migrate").await;
    for command in ["status", "migrate", "state", "changes"] {
        let text = help(command).await;
        for flag in SYNC_ONLY {
            assert!(!text.contains(flag), "{command} lists {flag}:\n{text}");
        }
    }
    for flag in [
        "--json",
        "--check",
        "--max-age",
        "--db",
        "--config",
        "--business-code",
    ] {
        assert!(status.contains(flag), "status lacks {flag}:\n{status}");
    }
    assert!(!migrate.contains("--business-code"), "{migrate}");
    assert!(migrate.contains("--db"), "{migrate}");
    let check = help("check-config").await;
    assert!(
        check.contains("--probe") && check.contains("--base-url"),
        "{check}"
    );
    assert!(
        !check.contains("--once") && !check.contains("--json"),
        "{check}"
    );
    let run = help("run").await;
    assert!(
        run.contains("--schedule") && !run.contains("--probe"),
        "{run}"
    );
}

#[tokio::test]
async fn a_sync_flag_after_status_is_refused_and_before_it_still_read() {
    let app = spawn_app(0).await;
    let out = app
        .run_binary(&["status", "--schedule", "* * * * *"], &[])
        .await;
    assert_exit(&out, 2);
    let db = app.db_path.to_str().expect("utf-8");
    assert_exit(&app.run_binary(&["--db", db, "migrate"], &[]).await, 0);
}
