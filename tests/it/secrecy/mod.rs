//! the README: the API key never leaves the `Authorization` header. It is looked for, byte
//! for byte, in every file beside the database, in the logs at trace level, and in what the
//! commands print; only its fingerprint may show. `echoes` has the key sent back by upstream
//! in every form the README names.

mod echoes;

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::fake_api::{FakeOptions, Fault};
use crate::helpers::{assert_exit, spawn_app_with, stderr, stdout, write_config, TestApp};
use xtrakit_sync::domain::ApiKey;

const SECRET: &str = "sk-live-SECRET-abc123";
const OTHER: &str = "sk-live-OTHER-xyz789";

async fn secret_app(groups: usize) -> TestApp {
    spawn_app_with(FakeOptions {
        api_key: Some(SECRET.into()),
        groups,
        ..FakeOptions::default()
    })
    .await
}

fn fingerprint() -> String {
    ApiKey::new(SECRET).unwrap().fingerprint()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Everything the process printed, both streams.
fn printed(out: &Output) -> Vec<u8> {
    [out.stdout.as_slice(), out.stderr.as_slice()].concat()
}

/// The lines of `text` that hold the key, for a failure message.
fn leaking_lines(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| l.contains(SECRET))
        .collect::<Vec<_>>()
        .join("\n")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A success, an auth failure (the API wants another key) and a failed run (persistent 500s),
/// each a `--once` with the secret key and `env`; returns the three outputs.
async fn success_auth_failure_and_failed_run(app: &TestApp, env: &[(&str, &str)]) -> Vec<Output> {
    let config = write_config(app, "max_retries = 1\nretry_base_delay_ms = 5\n");
    let mut all_env = vec![
        ("XTRAKIT_API_KEY", SECRET),
        ("XTRAKIT_SYNC_CONFIG", config.to_str().unwrap()),
    ];
    all_env.extend_from_slice(env);

    let ok = app.run_binary(&["--once"], &all_env).await;
    assert_exit(&ok, 0);

    app.api.update_groups(&[1], "2099-01-01 00:00:00");
    app.api.set_api_key(Some(OTHER));
    let auth = app.run_binary(&["--once"], &all_env).await;
    assert_exit(&auth, 3);

    app.api.set_api_key(Some(SECRET));
    for _ in 0..3 {
        app.api.push_fault(Fault::Status {
            status: 500,
            body: r#"{"status":500,"error":"Internal Server Error"}"#.into(),
            retry_after: None,
        });
    }
    let failed = app.run_binary(&["--once"], &all_env).await;
    assert_exit(&failed, 1);

    let statuses: Vec<String> = {
        let pool = app.db().await;
        let rows = sqlx::query_scalar("SELECT status FROM sync_runs ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows
    };
    assert_eq!(statuses, ["success", "auth_failed", "failed"]);
    vec![ok, auth, failed]
}

#[tokio::test]
async fn key_never_reaches_the_database_or_its_wal_and_only_its_fingerprint_is_logged() {
    let app = secret_app(5).await;
    let env = [("XTRAKIT_API_KEY", SECRET)];
    assert_exit(&app.run_binary(&["migrate"], &env).await, 0);
    // An analyst's open connection keeps the `-wal` file (and what the runs wrote into it)
    // on disk after each `--once` exits.
    let reader = app.db().await;
    sqlx::query("SELECT count(*) FROM sync_runs")
        .execute(&reader)
        .await
        .unwrap();

    success_auth_failure_and_failed_run(&app, &[]).await;

    let wal = PathBuf::from(format!("{}-wal", app.db_path.display()));
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(wal_len > 0, "the -wal file is there to be searched");
    let mut all_bytes = Vec::new();
    for file in files_under(app.dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, SECRET),
            "the key is in {}",
            file.display()
        );
        all_bytes.extend(bytes);
    }
    assert!(
        contains(&all_bytes, &fingerprint()),
        "the search covers what the runs wrote"
    );
    let logged: Vec<(String, String)> =
        sqlx::query_as("SELECT key_fingerprint, detail FROM auth_failures")
            .fetch_all(&reader)
            .await
            .unwrap();
    reader.close().await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].0, fingerprint());
    assert!(!logged[0].1.contains(SECRET));
}

async fn key_never_reaches_trace_logs(log_format: &str) {
    let app = secret_app(5).await;
    let env = [("RUST_LOG", "trace"), ("XTRAKIT_LOG_FORMAT", log_format)];

    let outputs = success_auth_failure_and_failed_run(&app, &env).await;

    for (out, run) in outputs
        .iter()
        .zip(["success", "auth failure", "failed run"])
    {
        let text = printed(out);
        assert!(
            !contains(&text, SECRET),
            "the key is in the {log_format} log of the {run}:\n{}",
            leaking_lines(&text)
        );
        assert!(
            contains(&text, "TRACE"),
            "the {run} logged at trace level:\n{}",
            stderr(out)
        );
    }
}

#[tokio::test]
async fn key_never_reaches_text_logs_even_at_trace_level() {
    key_never_reaches_trace_logs("text").await;
}

#[tokio::test]
async fn key_never_reaches_json_logs_even_at_trace_level() {
    key_never_reaches_trace_logs("json").await;
}

#[tokio::test]
async fn key_never_reaches_status_or_check_config_output() {
    let app = secret_app(5).await;
    success_auth_failure_and_failed_run(&app, &[]).await;
    let env = [("XTRAKIT_API_KEY", SECRET), ("RUST_LOG", "trace")];

    for args in [
        &["status"][..],
        &["status", "--json"],
        &["check-config"],
        &["check-config", "--log-format", "json"],
    ] {
        let out = app.run_binary(args, &env).await;
        assert_exit(&out, 0);
        assert!(
            !contains(&printed(&out), SECRET),
            "the key is in `{}`:\n{}",
            args.join(" "),
            leaking_lines(&printed(&out))
        );
    }
    let config = app.run_binary(&["check-config"], &env).await;
    assert!(
        stdout(&config).contains(&fingerprint()),
        "{}",
        stdout(&config)
    );
}

#[tokio::test]
async fn error_body_echoing_the_key_is_not_stored_or_logged() {
    let app = secret_app(3).await;
    app.api.push_fault(Fault::Status {
        status: 400,
        body: format!(r#"{{"status":400,"error":"Bad header: Authorization: Bearer {SECRET}"}}"#),
        retry_after: None,
    });

    let out = app
        .run_binary(
            &["--once"],
            &[("XTRAKIT_API_KEY", SECRET), ("RUST_LOG", "trace")],
        )
        .await;

    assert_exit(&out, 1);
    assert!(
        !contains(&printed(&out), SECRET),
        "the key is in the log:\n{}",
        leaking_lines(&printed(&out))
    );
    for file in files_under(app.dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, SECRET),
            "the key is in {}",
            file.display()
        );
    }
    assert_eq!(app.events("http_error").await, 1);
    assert_eq!(app.live_groups().await, 0);
}

#[tokio::test]
async fn api_key_written_into_the_config_file_is_refused_without_echoing_it() {
    let app = secret_app(3).await;
    let config = write_config(&app, &format!("api_key = \"{SECRET}\"\n"));

    let out = app
        .run_binary(&["--once", "--config", config.to_str().unwrap()], &[])
        .await;

    assert_exit(&out, 2);
    assert!(!contains(&printed(&out), SECRET), "{}", stderr(&out));
    assert!(stderr(&out).contains("api_key_file"), "{}", stderr(&out));
    assert!(!app.db_path.exists());
    assert_eq!(app.api.request_count(), 0);
}

/// Writes the key file with `text` and `mode`, returning its path.
fn key_file(app: &TestApp, text: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = app.dir.path().join("api-key");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

async fn once_with_key_file(app: &TestApp, path: &Path) -> Output {
    let mut cmd = app.command();
    cmd.arg("--once")
        .env_remove("XTRAKIT_API_KEY")
        .env("XTRAKIT_API_KEY_FILE", path);
    cmd.output().await.expect("binary runs")
}

#[tokio::test]
async fn key_file_readable_by_others_works_with_a_warning() {
    let app = secret_app(4).await;
    let path = key_file(&app, SECRET, 0o644);

    let out = once_with_key_file(&app, &path).await;

    assert_exit(&out, 0);
    let log = stderr(&out);
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("readable by group or others"), "{log}");
    assert!(log.contains(path.to_str().unwrap()), "{log}");
    assert!(!log.contains(SECRET), "{log}");
    assert_eq!(app.live_groups().await, 4);
}

#[tokio::test]
async fn key_file_with_a_trailing_newline_sends_the_trimmed_key() {
    let app = secret_app(4).await;
    let path = key_file(&app, &format!("{SECRET}\n"), 0o600);

    let out = once_with_key_file(&app, &path).await;

    assert_exit(&out, 0);
    let sent = app.api.requests().remove(0).authorization;
    assert_eq!(sent, Some(format!("Bearer {SECRET}")));
    assert!(!stderr(&out).contains("readable by"), "{}", stderr(&out));
    assert_eq!(app.live_groups().await, 4);
}
