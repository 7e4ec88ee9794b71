//! Database path problems through the real binary: each says what is wrong, once, and
//! exits 4, whichever command met it; `migrate` says whether it created the file.

use std::os::unix::fs::PermissionsExt;

use crate::helpers::{assert_exit, spawn_app, stderr, stdout, TestApp};

/// The commands that open the database, each run with `--db db`.
const COMMANDS: [&[&str]; 3] = [&["--once"], &["status"], &["migrate"]];

async fn each_command_says_once(app: &TestApp, db: &str, expected: &str) {
    for command in COMMANDS {
        let mut args = command.to_vec();
        args.extend(["--db", db]);
        let out = app.run_binary(&args, &[]).await;
        assert_exit(&out, 4);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{command:?}: {err}");
        assert!(err.contains(expected), "{command:?}: {err}");
        assert!(!err.contains("code: 14"), "{command:?}: {err}");
    }
}

#[tokio::test]
async fn a_missing_directory_is_named_once_by_every_command() {
    let app = spawn_app(1).await;
    let db = app.dir.path().join("no/such/x.db");
    let dir = app.dir.path().join("no/such");
    let expected = format!("directory {} does not exist", dir.display());
    each_command_says_once(&app, db.to_str().expect("utf-8"), &expected).await;
    assert_eq!(app.api.request_count(), 0);
    assert!(!dir.exists());
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_named_once_by_every_command() {
    let app = spawn_app(1).await;
    let db = app.dir.path().join("notes.db");
    std::fs::write(&db, b"not a database\n".repeat(300)).expect("file written");
    each_command_says_once(
        &app,
        db.to_str().expect("utf-8"),
        "is not an SQLite database",
    )
    .await;
    assert_eq!(std::fs::read(&db).expect("still there").len(), 15 * 300);
}

#[tokio::test]
async fn a_directory_in_place_of_the_file_is_named_once_by_every_command() {
    let app = spawn_app(1).await;
    let db = app.dir.path().join("data");
    std::fs::create_dir(&db).expect("dir");
    each_command_says_once(&app, db.to_str().expect("utf-8"), "is a directory").await;
}

#[tokio::test]
async fn a_database_the_user_may_not_open_says_permission_denied() {
    let app = spawn_app(1).await;
    // Only root can run the binary as another user (as CI does); elsewhere, skip.
    if !is_root() {
        return;
    }
    let dir = app.dir.path().join("shared");
    std::fs::create_dir(&dir).expect("dir");
    let db = dir.join("x.db");
    std::fs::write(&db, b"").expect("db file");
    std::fs::set_permissions(app.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = tokio::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_xtrakit-sync"))
        .args(["migrate", "--db"])
        .arg(&db)
        .env_clear()
        .output()
        .await
        .expect("setpriv runs");
    assert_exit(&out, 4);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("permission denied"), "{err}");
}

/// Whether this test process runs as root.
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

#[tokio::test]
async fn migrate_says_created_for_a_new_file_and_up_to_date_after() {
    let app = spawn_app(0).await;
    let first = app.run_binary(&["migrate"], &[]).await;
    assert_exit(&first, 0);
    assert!(stdout(&first).ends_with(" created\n"), "{}", stdout(&first));
    let second = app.run_binary(&["migrate"], &[]).await;
    assert_exit(&second, 0);
    assert!(
        stdout(&second).ends_with(" is up to date\n"),
        "{}",
        stdout(&second)
    );
}

#[tokio::test]
async fn a_postgres_server_that_does_not_answer_is_named_once_by_every_command() {
    let app = spawn_app(1).await;
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("postgres://nobody@127.0.0.1:{port}/xtrakit");
    each_command_says_once(&app, &url, "Connection refused").await;
    each_command_says_once(&app, &url, "is the server running").await;
}

#[tokio::test]
async fn a_postgres_url_with_a_password_is_refused_without_showing_it() {
    let app = spawn_app(1).await;
    for command in COMMANDS {
        let mut args = command.to_vec();
        args.extend([
            "--db",
            "postgres://sync:hunter2-secret@127.0.0.1:5432/xtrakit",
        ]);
        let out = app.run_binary(&args, &[]).await;
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains("PGPASSWORD"), "{command:?}: {err}");
        assert!(!err.contains("hunter2"), "{command:?}: {err}");
        assert!(!stdout(&out).contains("hunter2"), "{command:?}");
    }
    assert!(!app.db_path.exists(), "nothing was created");
}
