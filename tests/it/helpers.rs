//! The one shared helper: a fake API, a temp database, and ways to run a sync through the
//! library or through the real binary. Dropping a `TestApp` removes the temp directory with
//! the database and its `-wal`, `-shm` and `.lock` files.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use xtrakit_sync::api::{ApiClient, ClientSettings};
use xtrakit_sync::domain::{ApiKey, Scope, Trigger};
use xtrakit_sync::store::Store;
use xtrakit_sync::sync::{LockPolicy, RunReport, SyncAllOutcome, SyncOptions, SyncRequest, Syncer};

use crate::fake_api::{FakeApi, FakeOptions};

pub const KEY: &str = "test-key";

pub struct TestApp {
    pub api: FakeApi,
    pub dir: TempDir,
    pub db_path: PathBuf,
    pub options: SyncOptions,
    /// Retries in tests wait milliseconds, not seconds.
    pub max_retries: u32,
    pub max_response_bytes: u64,
    pub base_url: String,
}

/// A fake API serving `groups` generated groups and an empty database beside it.
pub async fn spawn_app(groups: usize) -> TestApp {
    spawn_app_with(FakeOptions {
        groups,
        ..FakeOptions::default()
    })
    .await
}

pub async fn spawn_app_with(options: FakeOptions) -> TestApp {
    let api = FakeApi::start(options).await.expect("fake API starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("xtrakit.db");
    let base_url = api.base_url();
    TestApp {
        api,
        dir,
        db_path,
        options: SyncOptions {
            lookback_days: 1,
            max_pages: 10_000,
            history: true,
            delete_guard_fraction: 0.5,
        },
        max_retries: 3,
        max_response_bytes: 16 * 1024 * 1024,
        base_url,
    }
}

/// What a test asks of one sync.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ask {
    pub full: bool,
    pub allow_mass_delete: bool,
}

/// `--once --full`.
pub const FULL: Ask = Ask {
    full: true,
    allow_mass_delete: false,
};

impl TestApp {
    pub async fn syncer(&self) -> Syncer {
        let client = ApiClient::new(ClientSettings {
            base_url: self.base_url.parse().expect("base url"),
            key: ApiKey::new(KEY).expect("key"),
            request_timeout: Duration::from_secs(10),
            max_retries: self.max_retries,
            max_response_bytes: self.max_response_bytes,
            retry_base_delay: Duration::from_millis(5),
        })
        .expect("client");
        Syncer {
            store: Store::open(&self.db_path).await.expect("store opens"),
            client,
            options: self.options.clone(),
            database: self.db_path.clone(),
            progress: None,
        }
    }

    /// One sync of the unfiltered scope through the library, like `--once`.
    pub async fn sync(&self) -> RunReport {
        self.sync_with(Ask::default()).await
    }

    pub async fn sync_with(&self, ask: Ask) -> RunReport {
        let mut reports = self.sync_scopes(&[Scope::ALL], ask).await;
        assert_eq!(reports.len(), 1);
        reports.remove(0)
    }

    pub async fn sync_scopes(&self, scopes: &[Scope], ask: Ask) -> Vec<RunReport> {
        let syncer = self.syncer().await;
        let request = SyncRequest {
            trigger: Trigger::Once,
            force_full: ask.full,
            full_due_since: None,
            allow_mass_delete: ask.allow_mass_delete,
        };
        let policy = LockPolicy::Wait(Duration::from_secs(30));
        let outcome = syncer
            .sync_all(scopes, request, policy, &CancellationToken::new())
            .await
            .expect("sync runs");
        syncer.store.close().await;
        match outcome {
            SyncAllOutcome::Ran(reports) => reports,
            SyncAllOutcome::Skipped => panic!("sync skipped"),
        }
    }

    /// A separate connection for assertions, as an analyst would open one.
    pub async fn db(&self) -> SqlitePool {
        let options = SqliteConnectOptions::new().filename(&self.db_path);
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("test connection")
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        let pool = self.db().await;
        let value: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.expect(sql);
        pool.close().await;
        value
    }

    pub async fn text(&self, sql: &str) -> Option<String> {
        let pool = self.db().await;
        let value: Option<String> = sqlx::query_scalar(sql).fetch_one(&pool).await.expect(sql);
        pool.close().await;
        value
    }

    pub async fn live_groups(&self) -> i64 {
        self.scalar("SELECT count(*) FROM customer_groups WHERE deleted_at IS NULL")
            .await
    }

    pub async fn events(&self, event: &str) -> i64 {
        let pool = self.db().await;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_log WHERE event = ?")
            .bind(event)
            .fetch_one(&pool)
            .await
            .expect("count events");
        pool.close().await;
        n
    }

    /// When the unfiltered scope was last verified in full.
    pub async fn last_full_sync_at(&self) -> Option<String> {
        self.text("SELECT (SELECT last_full_sync_at FROM sync_state WHERE scope = 'all')")
            .await
    }

    /// Sets `last_full_sync_at` of the unfiltered scope to a date no run writes, so a test can
    /// tell whether a later run moved it, even within the same second; returns that date.
    pub async fn mark_verified_long_ago(&self) -> Option<String> {
        let pool = self.db().await;
        sqlx::query("UPDATE sync_state SET last_full_sync_at = '2000-01-01 00:00:00'")
            .execute(&pool)
            .await
            .expect("set last_full_sync_at");
        pool.close().await;
        self.last_full_sync_at().await
    }

    /// Ids of `customer_groups` rows marked deleted, ascending.
    pub async fn deleted_ids(&self) -> Vec<i64> {
        let pool = self.db().await;
        let sql = "SELECT id FROM customer_groups WHERE deleted_at IS NOT NULL ORDER BY id";
        let ids: Vec<i64> = sqlx::query_scalar(sql).fetch_all(&pool).await.expect(sql);
        pool.close().await;
        ids
    }

    pub async fn watermark(&self) -> Option<String> {
        self.text("SELECT (SELECT watermark FROM sync_state WHERE scope = 'all')")
            .await
    }

    /// The whole `customer_groups` table as text, to prove a failure changed nothing.
    pub async fn snapshot(&self) -> String {
        let pool = self.db().await;
        let rows: Vec<(i64, String, Option<String>, String)> = sqlx::query_as(
            "SELECT id, raw_json, deleted_at, last_changed_at FROM customer_groups ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .expect("snapshot");
        pool.close().await;
        format!("{rows:?}")
    }

    /// The release or debug binary, with a clean environment pointing at this app.
    pub fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_xtrakit-sync"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("XTRAKIT_DB", &self.db_path)
            .env("XTRAKIT_BASE_URL", &self.base_url)
            .env("XTRAKIT_API_KEY", KEY)
            .current_dir(self.dir.path())
            .kill_on_drop(true);
        cmd
    }

    /// Runs the binary to completion (with a generous timeout) and returns its output.
    pub async fn run_binary(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
            .await
            .expect("binary finishes")
            .expect("binary runs");
        out
    }
}

/// Writes a config file into the app's temp dir and returns its path.
pub fn write_config(app: &TestApp, toml: &str) -> PathBuf {
    let path = app.dir.path().join("config.toml");
    std::fs::write(&path, toml).expect("config written");
    path
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl TestApp {
    /// Starts the binary with piped output and returns at once; see [`finish`].
    pub fn spawn_binary(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
        let mut cmd = self.command();
        cmd.args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("binary starts")
    }
}

/// Waits (with a generous timeout) for a binary started by `spawn_binary`.
pub async fn finish(child: tokio::process::Child) -> Output {
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("binary finishes")
        .expect("binary output")
}

/// Polls `check` every 20 ms until it holds; panics naming `what` after 30 s.
pub async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends a signal by `kill` name (`INT`, `TERM`, `KILL`) to process `pid`.
pub async fn send_signal(pid: u32, signal: &str) {
    let status = tokio::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

impl TestApp {
    /// The `detail` JSON of every `sync_log` row with this event, oldest first.
    pub async fn event_details(&self, event: &str) -> Vec<serde_json::Value> {
        let pool = self.db().await;
        let rows: Vec<Option<String>> =
            sqlx::query_scalar("SELECT detail FROM sync_log WHERE event = ? ORDER BY id")
                .bind(event)
                .fetch_all(&pool)
                .await
                .expect("event details");
        pool.close().await;
        rows.into_iter()
            .map(|d| {
                d.map_or(serde_json::Value::Null, |d| {
                    serde_json::from_str(&d).expect(&d)
                })
            })
            .collect()
    }

    /// The `message` of every `sync_log` row with this event, oldest first.
    pub async fn event_messages(&self, event: &str) -> Vec<String> {
        let pool = self.db().await;
        let rows: Vec<Option<String>> =
            sqlx::query_scalar("SELECT message FROM sync_log WHERE event = ? ORDER BY id")
                .bind(event)
                .fetch_all(&pool)
                .await
                .expect("event messages");
        pool.close().await;
        rows.into_iter().map(Option::unwrap_or_default).collect()
    }

    /// `sync_runs.status` of the newest run.
    pub async fn last_run_status(&self) -> String {
        self.text("SELECT status FROM sync_runs ORDER BY id DESC LIMIT 1")
            .await
            .expect("a run row")
    }
}

/// Asserts the exit code, with both output streams in the message when it is not the one
/// expected.
pub fn assert_exit(out: &Output, expected: i32) {
    assert_eq!(
        out.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// An HTTP 500 with the API's JSON error body.
pub fn server_error() -> crate::fake_api::Fault {
    crate::fake_api::Fault::Status {
        status: 500,
        body: r#"{"status":500,"error":"Internal Server Error"}"#.into(),
        retry_after: None,
    }
}

/// A database filled by a first `--once` of the binary, and a change upstream that a later
/// run would write: if a run that should not touch the rows did, the snapshot shows it.
pub async fn synced_app_with_pending_change(groups: usize) -> TestApp {
    let app = spawn_app(groups).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    app.api.update_groups(&[1, 2], "2099-01-01 00:00:00");
    app.api.put_group(1000, 1, "Pending", "2099-01-01 00:00:00");
    app.api.clear_requests();
    app
}

/// One sync of the unfiltered scope through `syncer`, as one daemon tick does it.
pub async fn tick(syncer: &Syncer) -> RunReport {
    let request = SyncRequest {
        trigger: Trigger::Schedule,
        force_full: false,
        full_due_since: None,
        allow_mass_delete: false,
    };
    let outcome = syncer
        .sync_all(
            &[Scope::ALL],
            request,
            LockPolicy::Wait(Duration::from_secs(5)),
            &CancellationToken::new(),
        )
        .await
        .expect("the sync runs");
    match outcome {
        SyncAllOutcome::Ran(mut reports) => reports.remove(0),
        SyncAllOutcome::Skipped => panic!("skipped"),
    }
}
