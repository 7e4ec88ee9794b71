//! The one shared helper: a fake API, a temp database, and ways to run a sync through the
//! library or through the real binary. Dropping a `TestApp` removes the temp directory with
//! the database and its `-wal`, `-shm` and `.lock` files.

use std::future::Future;
use std::path::PathBuf;
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Connection, SqliteConnection};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;
use xtrakit_sync::api::{ApiClient, ClientSettings};
use xtrakit_sync::domain::{ApiKey, Scope, Trigger};
use xtrakit_sync::store::Store;
use xtrakit_sync::sync::{LockPolicy, RunReport, SyncAllOutcome, SyncOptions, SyncRequest, Syncer};

use crate::fake_api::{FakeApi, FakeOptions, Fault};
use crate::test_db::{self, TestDatabase};

pub(crate) const KEY: &str = "test-key";

pub(crate) struct TestApp {
    pub(crate) api: FakeApi,
    pub(crate) dir: TempDir,
    /// The SQLite file (unused when the tests run on PostgreSQL: see `test_db`).
    pub(crate) db_path: PathBuf,
    pub(crate) database: TestDatabase,
    pub(crate) options: SyncOptions,
    /// Retries in tests wait milliseconds, not seconds.
    pub(crate) max_retries: u32,
    pub(crate) max_response_bytes: u64,
    pub(crate) base_url: String,
}

/// A fake API serving `groups` generated groups and an empty database beside it.
pub(crate) async fn spawn_app(groups: usize) -> TestApp {
    spawn_app_with(FakeOptions {
        groups,
        ..FakeOptions::default()
    })
    .await
}

pub(crate) async fn spawn_app_with(options: FakeOptions) -> TestApp {
    let api = FakeApi::start(options).await.expect("fake API starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("xtrakit.db");
    let database = test_db::create(&db_path).await;
    let base_url = api.base_url();
    TestApp {
        api,
        dir,
        db_path,
        database,
        options: SyncOptions {
            lookback_days: 1,
            max_pages: 10_000,
            max_concurrent_requests: 4,
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
pub(crate) struct Ask {
    pub(crate) full: bool,
    pub(crate) allow_mass_delete: bool,
}

/// `--once --full`.
pub(crate) const FULL: Ask = Ask {
    full: true,
    allow_mass_delete: false,
};

/// `--once --full --allow-mass-delete`.
pub(crate) const FULL_MASS_DELETE: Ask = Ask {
    full: true,
    allow_mass_delete: true,
};

impl TestApp {
    pub(crate) async fn syncer(&self) -> Syncer {
        let client = ApiClient::new(ClientSettings {
            base_url: self.base_url.parse().expect("base url"),
            key: ApiKey::new(KEY).expect("key"),
            request_timeout: Duration::from_secs(10),
            max_retries: self.max_retries,
            max_response_bytes: self.max_response_bytes,
            retry_base_delay: Duration::from_millis(5),
            extra_roots: Vec::new(),
        })
        .expect("client");
        Syncer {
            store: Store::open(&self.database.location)
                .await
                .expect("store opens"),
            client: client.into(),
            options: self.options.clone(),
            progress: None,
        }
    }

    /// One sync of the unfiltered scope through the library, like `--once`.
    pub(crate) async fn sync(&self) -> RunReport {
        self.sync_with(Ask::default()).await
    }

    pub(crate) async fn sync_with(&self, ask: Ask) -> RunReport {
        let mut reports = self.sync_scopes(&[Scope::ALL], ask).await;
        assert_eq!(reports.len(), 1);
        reports.remove(0)
    }

    pub(crate) async fn sync_scopes(&self, scopes: &[Scope], ask: Ask) -> Vec<RunReport> {
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
    pub(crate) async fn db(&self) -> AnyPool {
        test_db::any_pool(&self.database.location, false)
            .await
            .expect("test connection")
    }

    /// Whether this test runs on PostgreSQL (`XTRAKIT_TEST_POSTGRES`).
    pub(crate) fn on_postgres(&self) -> bool {
        self.database.location.sqlite_path().is_none()
    }

    /// `ok` when the database is whole: SQLite's `integrity_check`; on PostgreSQL (which
    /// checks its pages itself) that every history row still points at a group.
    pub(crate) async fn integrity(&self) -> Option<String> {
        let sql = if self.on_postgres() {
            "SELECT CASE WHEN count(*) = 0 THEN 'ok' ELSE 'history rows without a group' END \
             FROM customer_group_history AS h LEFT JOIN customer_groups AS g \
             ON g.id = h.group_id WHERE g.id IS NULL"
        } else {
            "PRAGMA integrity_check"
        };
        self.text(sql).await
    }

    /// Runs `sql` on a connection of its own, as an analyst (or a test's sabotage) would.
    pub(crate) async fn execute(&self, sql: &str) {
        let pool = self.db().await;
        sqlx::query(sql).execute(&pool).await.expect(sql);
        pool.close().await;
    }

    pub(crate) async fn scalar(&self, sql: &str) -> i64 {
        let pool = self.db().await;
        let row = sqlx::query(sql).fetch_one(&pool).await.expect(sql);
        pool.close().await;
        test_db::int(&row, 0)
    }

    pub(crate) async fn text(&self, sql: &str) -> Option<String> {
        let pool = self.db().await;
        let value: Option<String> = sqlx::query_scalar(sql).fetch_one(&pool).await.expect(sql);
        pool.close().await;
        value
    }

    pub(crate) async fn live_groups(&self) -> i64 {
        self.scalar("SELECT count(*) FROM customer_groups WHERE deleted_at IS NULL")
            .await
    }

    pub(crate) async fn events(&self, event: &str) -> i64 {
        let pool = self.db().await;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_log WHERE event = $1")
            .bind(event)
            .fetch_one(&pool)
            .await
            .expect("count events");
        pool.close().await;
        n
    }

    /// When the unfiltered scope was last verified in full.
    pub(crate) async fn last_full_sync_at(&self) -> Option<String> {
        self.text("SELECT (SELECT last_full_sync_at FROM sync_state WHERE scope = 'all')")
            .await
    }

    /// Sets `last_full_sync_at` of the unfiltered scope to a date no run writes, so a test can
    /// tell whether a later run moved it, even within the same second; returns that date.
    pub(crate) async fn mark_verified_long_ago(&self) -> Option<String> {
        self.execute("UPDATE sync_state SET last_full_sync_at = '2000-01-01 00:00:00'")
            .await;
        self.last_full_sync_at().await
    }

    /// Ids of `customer_groups` rows marked deleted, ascending.
    pub(crate) async fn deleted_ids(&self) -> Vec<i64> {
        let pool = self.db().await;
        let sql = "SELECT id FROM customer_groups WHERE deleted_at IS NOT NULL ORDER BY id";
        let ids: Vec<i64> = sqlx::query_scalar(sql).fetch_all(&pool).await.expect(sql);
        pool.close().await;
        ids
    }

    pub(crate) async fn watermark(&self) -> Option<String> {
        self.text("SELECT (SELECT watermark FROM sync_state WHERE scope = 'all')")
            .await
    }

    /// The whole `customer_groups` table as text, to prove a failure changed nothing.
    pub(crate) async fn snapshot(&self) -> String {
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
    pub(crate) fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_xtrakit-sync"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("XTRAKIT_DB", self.database.location.to_string())
            .env("XTRAKIT_BASE_URL", &self.base_url)
            .env("XTRAKIT_API_KEY", KEY)
            .current_dir(self.dir.path())
            .kill_on_drop(true);
        cmd
    }

    /// Runs the binary to completion (with a generous timeout) and returns its output.
    pub(crate) async fn run_binary(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
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
pub(crate) fn write_config(app: &TestApp, toml: &str) -> PathBuf {
    let path = app.dir.path().join("config.toml");
    std::fs::write(&path, toml).expect("config written");
    path
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl TestApp {
    /// Starts the binary with piped output and returns at once; see [`finish`].
    pub(crate) fn spawn_binary(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> tokio::process::Child {
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
pub(crate) async fn finish(child: tokio::process::Child) -> Output {
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("binary finishes")
        .expect("binary output")
}

/// How long a poll waits before the test fails: generous, for a loaded 2-core machine.
pub(crate) const PATIENCE: Duration = Duration::from_secs(45);
/// What the README promises between SIGTERM and exit.
pub(crate) const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);

/// The one poller: awaits `probe` every 20 ms until it yields a value; panics naming `what`
/// after [`PATIENCE`].
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`eventually`] for a condition that needs no `await`.
pub(crate) async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    eventually(what, || {
        let holds = check();
        async move { holds.then_some(()) }
    })
    .await;
}

/// A connection to the app's database, or `None` while the file does not exist yet (the
/// daemon creates it).
async fn try_connect(app: &TestApp) -> Option<AnyPool> {
    if app.database.location.sqlite_path().is_some() && !app.db_path.exists() {
        return None;
    }
    test_db::any_pool(&app.database.location, true).await.ok()
}

/// One integer from the database, or `None` while the database or table does not exist yet
/// (the daemon creates them) or is briefly busy.
pub(crate) async fn try_scalar(app: &TestApp, sql: &str) -> Option<i64> {
    let pool = try_connect(app).await?;
    let value = sqlx::query(sql)
        .fetch_one(&pool)
        .await
        .ok()
        .map(|row| test_db::int(&row, 0));
    pool.close().await;
    value
}

/// One text value from the database, or `None` while there is no row (or no database yet).
pub(crate) async fn try_text(app: &TestApp, sql: &str) -> Option<String> {
    let pool = try_connect(app).await?;
    let value = sqlx::query_scalar::<_, Option<String>>(sql)
        .fetch_optional(&pool)
        .await
        .ok()
        .flatten()
        .flatten();
    pool.close().await;
    value
}

/// Polls until `sql` returns at least `at_least`.
pub(crate) async fn until_at_least(app: &TestApp, what: &str, sql: &str, at_least: i64) -> i64 {
    eventually(what, || async {
        try_scalar(app, sql).await.filter(|n| *n >= at_least)
    })
    .await
}

/// Sends a signal by `kill` name (`INT`, `TERM`, `KILL`) to process `pid`.
pub(crate) async fn send_signal(pid: u32, signal: &str) {
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
    pub(crate) async fn event_details(&self, event: &str) -> Vec<serde_json::Value> {
        let pool = self.db().await;
        let rows: Vec<Option<String>> =
            sqlx::query_scalar("SELECT detail FROM sync_log WHERE event = $1 ORDER BY id")
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
    pub(crate) async fn event_messages(&self, event: &str) -> Vec<String> {
        let pool = self.db().await;
        let rows: Vec<Option<String>> =
            sqlx::query_scalar("SELECT message FROM sync_log WHERE event = $1 ORDER BY id")
                .bind(event)
                .fetch_all(&pool)
                .await
                .expect("event messages");
        pool.close().await;
        rows.into_iter().map(Option::unwrap_or_default).collect()
    }

    /// `sync_runs.status` of the newest run.
    pub(crate) async fn last_run_status(&self) -> String {
        self.text("SELECT status FROM sync_runs ORDER BY id DESC LIMIT 1")
            .await
            .expect("a run row")
    }
}

/// Asserts the exit code, with both output streams in the message when it is not the one
/// expected.
pub(crate) fn assert_exit(out: &Output, expected: i32) {
    assert_eq!(
        out.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// An HTTP 500 with the API's JSON error body.
pub(crate) fn server_error() -> crate::fake_api::Fault {
    crate::fake_api::Fault::Status {
        status: 500,
        body: r#"{"status":500,"error":"Internal Server Error"}"#.into(),
        retry_after: None,
    }
}

/// A database filled by a first `--once` of the binary, and a change upstream that a later
/// run would write: if a run that should not touch the rows did, the snapshot shows it.
pub(crate) async fn synced_app_with_pending_change(groups: usize) -> TestApp {
    let app = spawn_app(groups).await;
    assert_exit(&app.run_binary(&["--once"], &[]).await, 0);
    app.api.update_groups(&[1, 2], "2099-01-01 00:00:00");
    app.api.put_group(1000, 1, "Pending", "2099-01-01 00:00:00");
    app.api.clear_requests();
    app
}

/// One sync of the unfiltered scope through `syncer`, as one daemon tick does it.
pub(crate) async fn tick(syncer: &Syncer) -> RunReport {
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

/// Reads the stderr of a child started by [`TestApp::spawn_binary`] line by line until a line
/// contains `needle`; panics after [`PATIENCE`] or if stderr ends first. Returns the lines
/// read. It reads a byte at a time, so what follows that line stays in the child's pipe for
/// [`finish`].
pub(crate) async fn wait_for_stderr_line(child: &mut Child, needle: &str) -> Vec<String> {
    let stderr = child.stderr.as_mut().expect("stderr is piped");
    let mut lines = BufReader::with_capacity(1, stderr).lines();
    let mut seen = Vec::new();
    let found = timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.expect("stderr reads") {
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        found,
        Ok(true),
        "no stderr line containing {needle:?}; read so far:\n{}",
        seen.join("\n")
    );
    seen
}

/// A response held back `secs` seconds.
pub(crate) fn slow(secs: u64) -> Fault {
    Fault::Slow {
        delay: Duration::from_secs(secs),
    }
}

/// A tick every second (six fields: seconds first).
pub(crate) const EVERY_SECOND: &str = "*/1 * * * * *";
/// A schedule that never fires during a test, for daemons that should only do the
/// startup run.
pub(crate) const NEW_YEAR: &str = "0 0 0 1 1 *";

/// A daemon started by a test; its stderr goes to a file so that a long run cannot fill a
/// pipe, and so that a failing assertion can show the log. Killed when dropped.
pub(crate) struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// `xtrakit-sync run --schedule <schedule> --full-sync-schedule "" <extra>` with `env`.
    pub(crate) fn start(
        app: &TestApp,
        schedule: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        Daemon::start_with_full_schedule(app, schedule, "", extra, env)
    }

    /// `xtrakit-sync run --schedule <schedule> --full-sync-schedule <full> <extra>` with `env`.
    pub(crate) fn start_with_full_schedule(
        app: &TestApp,
        schedule: &str,
        full_schedule: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let log = app.dir.path().join(format!(
            "daemon-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let file = std::fs::File::create(&log).expect("daemon log file");
        let mut cmd = app.command();
        cmd.args(["run", "--schedule", schedule])
            .args(["--full-sync-schedule", full_schedule])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().expect("daemon starts"),
            log,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("daemon pid")
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if the daemon has exited.
    pub(crate) fn assert_running(&mut self) {
        let exited = self.child.try_wait().expect("daemon status");
        assert!(
            exited.is_none(),
            "the daemon exited ({exited:?}); log:\n{}",
            self.log()
        );
    }

    /// Waits up to `bound` for the daemon to exit.
    pub(crate) async fn exit_within(&mut self, bound: Duration) -> Option<ExitStatus> {
        timeout(bound, self.child.wait())
            .await
            .ok()
            .map(|status| status.expect("daemon wait"))
    }

    pub(crate) async fn sigterm_and_expect_exit_0(&mut self) {
        send_signal(self.pid(), "TERM").await;
        let status = self.exit_within(SHUTDOWN_BOUND).await;
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "SIGTERM must end the daemon with 0 within {SHUTDOWN_BOUND:?}; log:\n{}",
            self.log()
        );
    }
}

/// An analyst's `sqlite3` without `-readonly`, inside `BEGIN IMMEDIATE`: nobody else can
/// write until [`release_write_lock`].
pub(crate) async fn hold_write_lock(app: &TestApp) -> SqliteConnection {
    let options = SqliteConnectOptions::new()
        .filename(&app.db_path)
        .busy_timeout(Duration::from_secs(20));
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .expect("analyst connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .expect("BEGIN IMMEDIATE");
    conn
}

/// The analyst of [`hold_write_lock`] rolls back and leaves.
pub(crate) async fn release_write_lock(mut conn: SqliteConnection) {
    sqlx::query("ROLLBACK")
        .execute(&mut conn)
        .await
        .expect("ROLLBACK");
    conn.close().await.expect("analyst closes");
}

/// A database holding groups 1..=n from one successful sync through the library.
pub(crate) async fn synced_app(n: usize) -> TestApp {
    let app = spawn_app(n).await;
    let report = app.sync().await;
    assert_eq!(
        report.status,
        xtrakit_sync::domain::RunStatus::Success,
        "{:?}",
        report.error
    );
    app
}

/// `groups` groups served `per_page` at a time, linked by a relative top-level
/// `next_page_url`, already synced once in full; the request log is cleared.
pub(crate) async fn synced_paginated_app(groups: usize, per_page: usize) -> TestApp {
    let app = spawn_app_with(FakeOptions {
        groups,
        pagination: crate::fake_api::Pagination::NextUrl {
            location: crate::fake_api::LinkLocation::TopLevel,
            absolute: false,
        },
        per_page,
        ..FakeOptions::default()
    })
    .await;
    let first = app.sync().await;
    assert_eq!(
        first.status,
        xtrakit_sync::domain::RunStatus::Success,
        "{:?}",
        first.error
    );
    app.api.clear_requests();
    app
}

/// A response of `status` with this JSON body, whatever the fake would have served.
pub(crate) fn json_response(status: u16, body: impl Into<String>) -> Fault {
    Fault::Raw {
        status,
        content_type: "application/json".into(),
        body: body.into(),
    }
}

/// Waits until a run is `running` and its first request has reached the fake (which a
/// [`slow`] fault then holds back).
pub(crate) async fn until_a_run_waits_on_the_fake(app: &TestApp) {
    until_at_least(
        app,
        "a run to be running",
        "SELECT count(*) FROM sync_runs WHERE status = 'running'",
        1,
    )
    .await;
    wait_until("the request to reach the fake", || {
        app.api.request_count() > 0
    })
    .await;
}
