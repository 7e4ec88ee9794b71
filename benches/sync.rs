//! The sync benchmark (SPEC section 9, issue 4).
//!
//! ```text
//! cargo bench --bench sync                 # the issue's scenarios, median of 3 runs
//! cargo bench --bench sync -- --quick      # 10 000 and 100 000 groups, one run
//! BENCH_N=200000 BENCH_RUNS=1 cargo bench --bench sync
//! cargo bench --bench sync -- --sizes 100000,1000000 --noop-sizes 10000,1000000 --runs 3
//! ```
//!
//! The fake API runs in this process and serves N generated groups, 1 000 per page, linked by
//! `next_page_url`, over real HTTP on loopback. Each sync is the release binary
//! (`xtrakit-sync --once`, history on) in a child process on a fresh SQLite file, started by a
//! small launcher process, so the peak resident memory reported (`ru_maxrss` from `wait4`) is
//! the sync's alone, never the fake's. `cargo bench` builds that binary with the bench
//! (release) profile before running this.
//!
//! Scenarios, for each size N:
//! - `full`: the first sync of N groups into an empty database;
//! - `noop`: then incremental syncs with nothing new (for the `--noop-sizes`), each receiving
//!   the same 100 unchanged records whatever N (see `noops`), five per run;
//! - `incremental-1pct`: then an incremental sync after the fake updated 1 % of the groups;
//! - `floor`: the same N records, fetched beforehand and held in memory, parsed with the
//!   library's parser and written with their history rows by the simplest loop on SQLite's C
//!   API (one transaction per page, one prepared `INSERT` per row, no HTTP, no run
//!   bookkeeping) on the same schema and settings: what SQLite alone costs on this machine.
//!
//! Figures are medians over the runs; a ratio (`full` to `floor`, `incremental-1pct` to
//! `full`) is the median of the ratios within each run, so a disturbance of a shared machine
//! counts once. `rows written` counts the `customer_groups` rows the scenario changed (those
//! whose `last_changed_at` moved) and the history rows it added; a `noop` must write none.

#[path = "../tests/support/fake_api/mod.rs"]
mod fake_api;

use std::collections::BTreeMap;
use std::ffi::{c_int, CStr, CString};
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_api::{FakeApi, FakeOptions, LinkLocation, Pagination};
use libsqlite3_sys as ffi;
use xtrakit_sync::api::{parse_body, Content};
use xtrakit_sync::domain::{format_timestamp, now_utc};
use xtrakit_sync::store::Store;

const KEY: &str = "bench-key";
const PER_PAGE: usize = 1000;
const BINARY: &str = env!("CARGO_BIN_EXE_xtrakit-sync");

/// What to run, from the command line and the environment.
struct Plan {
    sizes: Vec<usize>,
    noop_sizes: Vec<usize>,
    runs: usize,
}

impl Plan {
    fn from_args() -> Plan {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick");
        let mut plan = if quick {
            Plan {
                sizes: vec![10_000, 100_000],
                noop_sizes: vec![10_000, 100_000],
                runs: 1,
            }
        } else {
            Plan {
                sizes: vec![100_000, 1_000_000],
                noop_sizes: vec![10_000, 1_000_000],
                runs: 3,
            }
        };
        if let Ok(n) = std::env::var("BENCH_N") {
            let n = parse_sizes(&n);
            plan.noop_sizes = vec![10_000, *n.iter().max().unwrap_or(&10_000)];
            plan.sizes = n;
        }
        if let Ok(r) = std::env::var("BENCH_RUNS") {
            plan.runs = r.parse().expect("BENCH_RUNS is a number");
        }
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
        };
        if let Some(s) = value("--sizes") {
            plan.sizes = parse_sizes(s);
        }
        if let Some(s) = value("--noop-sizes") {
            plan.noop_sizes = parse_sizes(s);
        }
        if let Some(r) = value("--runs") {
            plan.runs = r.parse().expect("--runs takes a number");
        }
        plan.runs = plan.runs.max(1);
        plan
    }
}

fn parse_sizes(text: &str) -> Vec<usize> {
    text.split(',')
        .map(|s| {
            s.trim()
                .replace('_', "")
                .parse()
                .expect("sizes are numbers")
        })
        .collect()
}

/// One measurement of one scenario.
#[derive(Clone, Debug, Default)]
struct Sample {
    records: u64,
    wall: f64,
    /// Peak resident set of the sync process; `None` for the in-process floor.
    rss_kib: Option<u64>,
    groups_written: u64,
    history_written: u64,
}

type Results = BTreeMap<(usize, &'static str, usize), Vec<Sample>>;

fn order(scenario: &str) -> usize {
    match scenario {
        "floor" => 0,
        "full" => 1,
        "incremental-1pct" => 2,
        _ => 3,
    }
}

fn main() {
    if std::env::var_os(LAUNCHER_ENV).is_some() {
        return launcher();
    }
    let plan = Plan::from_args();
    assert!(
        Path::new(BINARY).exists(),
        "{BINARY} is missing: run this with `cargo bench --bench sync`, which builds it"
    );
    // Started first, while this process is still small: see `launcher`.
    let launcher = Arc::new(Mutex::new(Launcher::start()));
    print_machine(&plan);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut results = Results::new();
    for run in 1..=plan.runs {
        for &n in &plan.sizes {
            eprintln!("run {run}/{}: N = {n}", plan.runs);
            let noop = plan.noop_sizes.contains(&n);
            runtime.block_on(sync_scenarios(&launcher, n, noop, &mut results));
            let floor = runtime.block_on(floor(n));
            push(&mut results, n, "floor", floor);
        }
        for &n in plan.noop_sizes.iter().filter(|n| !plan.sizes.contains(n)) {
            eprintln!("run {run}/{}: noop on N = {n}", plan.runs);
            runtime.block_on(noop_only(&launcher, n, &mut results));
        }
    }
    let launcher_peak = launcher.lock().expect("launcher").peak_kib;
    print_table(&plan, &results, launcher_peak);
}

fn push(results: &mut Results, n: usize, scenario: &'static str, sample: Sample) {
    results
        .entry((order(scenario), scenario, n))
        .or_default()
        .push(sample);
}

/// Noop syncs per size and run: each takes milliseconds, so one sample would be mostly noise.
const NOOP_REPEATS: usize = 5;

type Shared<T> = Arc<Mutex<T>>;

/// `full`, then `noop` (if asked), then `incremental-1pct`, all on one database.
async fn sync_scenarios(launcher: &Shared<Launcher>, n: usize, noop: bool, results: &mut Results) {
    let fake = start_fake(n).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("xtrakit.db");
    push(results, n, "full", run_sync(launcher, &fake, &db).await);
    if noop {
        noops(launcher, &fake, &db, n, results).await;
    }
    let stamp = format_timestamp(now_utc());
    let updated = fake.update_fraction(0.01, &stamp);
    let sample = run_sync(launcher, &fake, &db).await;
    assert_eq!(
        sample.groups_written,
        updated.len() as u64,
        "incremental-1pct must rewrite exactly the updated groups"
    );
    push(results, n, "incremental-1pct", sample);
    fake.shutdown();
}

/// A database of N rows made by a full sync (not reported), then the `noop` syncs.
async fn noop_only(launcher: &Shared<Launcher>, n: usize, results: &mut Results) {
    let fake = start_fake(n).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("xtrakit.db");
    run_sync(launcher, &fake, &db).await;
    noops(launcher, &fake, &db, n, results).await;
    fake.shutdown();
}

/// Records every `noop` receives again, whatever N: the incremental request reaches back a
/// day before the watermark, and in the generated data that day holds a number of records
/// proportional to N. Stamping the same number of records "now" (and syncing them, untimed)
/// moves the watermark to today, so each `noop` gets exactly these, unchanged: what differs
/// between the sizes is then only the database.
const NOOP_RECORDS: usize = 100;

async fn noops(
    launcher: &Shared<Launcher>,
    fake: &FakeApi,
    db: &Path,
    n: usize,
    results: &mut Results,
) {
    let ids: Vec<i64> = (0..NOOP_RECORDS)
        .map(|k| (1 + k * n / NOOP_RECORDS) as i64)
        .collect();
    fake.update_groups(&ids, &format_timestamp(now_utc()));
    run_sync(launcher, fake, db).await;
    for _ in 0..NOOP_REPEATS {
        let sample = run_sync(launcher, fake, db).await;
        assert_eq!(sample.records, NOOP_RECORDS as u64, "what a noop receives");
        push(results, n, "noop", sample);
    }
}

async fn start_fake(n: usize) -> FakeApi {
    FakeApi::start(FakeOptions {
        api_key: Some(KEY.into()),
        pagination: Pagination::NextUrl {
            location: LinkLocation::TopLevel,
            absolute: true,
        },
        per_page: PER_PAGE,
        groups: n,
        ..FakeOptions::default()
    })
    .await
    .expect("fake API starts")
}

/// One `xtrakit-sync --once` against the fake; its wall time and peak memory, and what it
/// wrote according to the database.
async fn run_sync(launcher: &Shared<Launcher>, fake: &FakeApi, db: &Path) -> Sample {
    let before = db.exists().then(|| Snapshot::take(db));
    if let Some(before) = &before {
        // `last_changed_at` has second precision: start in a later second than any row.
        while format_timestamp(now_utc()) <= before.last_changed {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        warm_up(fake, &before.filter).await;
    }
    let (launcher, path, base) = (launcher.clone(), db.to_owned(), fake.base_url());
    let ran =
        tokio::task::spawn_blocking(move || launcher.lock().expect("launcher").run(&path, &base))
            .await
            .expect("launcher thread");
    if ran.code != 0 {
        let log = std::fs::read_to_string(db.with_file_name("sync.log")).unwrap_or_default();
        panic!("xtrakit-sync --once exited with {}:\n{log}", ran.code);
    }
    let after = Snapshot::take(db);
    let since = before.as_ref().map_or("", |b| b.last_changed.as_str());
    let groups_written = Db::open(db).count(&format!(
        "SELECT count(*) FROM customer_groups WHERE last_changed_at > '{since}'"
    ));
    Sample {
        records: after.last_received,
        wall: ran.wall,
        rss_kib: Some(ran.rss_kib),
        groups_written,
        history_written: after.history - before.map_or(0, |b| b.history),
    }
}

/// Asks the fake once for the page an incremental sync will ask for first. The fake finds the
/// records of a filter by scanning all of them (then keeps the answer); a real API has an
/// index for that, so this scan is not the sync's cost.
async fn warm_up(fake: &FakeApi, filter: &str) {
    if filter.is_empty() {
        return;
    }
    reqwest::Client::new()
        .get(format!("{}?updated_at={filter}", fake.api_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("warm-up request");
}

/// A small process that starts each sync and reports its wall time and peak memory.
///
/// `ru_maxrss` of a child counts the peak of the process that spawned it (Rust spawns with
/// `vfork` semantics, and the peak survives `exec`), and this process holds the fake's data
/// and the floor's response bodies: hundreds of MiB. The launcher is this same binary,
/// started before any of that, so what it adds is its own peak of a few MiB, printed with the
/// results as a lower bound of any RSS figure.
struct Launcher {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: BufReader<std::process::ChildStdout>,
    peak_kib: u64,
}

const LAUNCHER_ENV: &str = "XTRAKIT_BENCH_LAUNCHER";

struct Ran {
    code: i32,
    wall: f64,
    rss_kib: u64,
}

impl Launcher {
    fn start() -> Launcher {
        let exe = std::env::current_exe().expect("this benchmark's path");
        let mut child = Command::new(exe)
            .env(LAUNCHER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("launcher starts");
        let input = child.stdin.take().expect("launcher stdin");
        let output = BufReader::new(child.stdout.take().expect("launcher stdout"));
        Launcher {
            child,
            input,
            output,
            peak_kib: 0,
        }
    }

    fn run(&mut self, db: &Path, base_url: &str) -> Ran {
        let db = db.to_str().expect("UTF-8 temp path");
        writeln!(self.input, "{db}\t{base_url}").expect("launcher request");
        self.input.flush().expect("launcher request");
        let mut line = String::new();
        self.output.read_line(&mut line).expect("launcher answer");
        let fields: Vec<&str> = line.trim().split('\t').collect();
        let [code, wall, rss, own] = fields[..] else {
            panic!("launcher answered {line:?}");
        };
        self.peak_kib = own.parse().expect("launcher peak");
        Ran {
            code: code.parse().expect("exit code"),
            wall: wall.parse().expect("wall time"),
            rss_kib: rss.parse().expect("peak RSS"),
        }
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The launcher's loop: for each `DB<TAB>BASE_URL` line, one `xtrakit-sync --once`; answers
/// `EXIT_CODE<TAB>WALL_SECONDS<TAB>PEAK_RSS_KIB<TAB>OWN_PEAK_KIB`.
fn launcher() {
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("request");
        let (db, base_url) = line.split_once('\t').expect("DB<TAB>BASE_URL");
        let db = Path::new(db);
        let dir = db.parent().expect("db in a dir");
        let log = std::fs::File::create(dir.join("sync.log")).expect("log file");
        let started = Instant::now();
        // Reaped by `wait_with_rusage`, which `Child::wait` cannot replace: it drops the rusage.
        #[allow(clippy::zombie_processes)]
        let child = Command::new(BINARY)
            .arg("--once")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("XTRAKIT_DB", db)
            .env("XTRAKIT_BASE_URL", base_url)
            .env("XTRAKIT_API_KEY", KEY)
            .env("XTRAKIT_LOG_FORMAT", "text")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the sync binary starts");
        let (code, rss_kib) = wait_with_rusage(child.id() as libc::pid_t);
        let wall = started.elapsed().as_secs_f64();
        let own = own_peak_kib();
        writeln!(out, "{code}\t{wall}\t{rss_kib}\t{own}").expect("answer");
        out.flush().expect("answer");
    }
}

/// VmHWM of this process.
fn own_peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// Reaps the child and returns its exit code (or 128 + signal) and its peak RSS in KiB.
fn wait_with_rusage(pid: libc::pid_t) -> (i32, u64) {
    let mut status: c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet reaped; both pointers are valid for writes.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(err.kind(), std::io::ErrorKind::Interrupted, "wait4: {err}");
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    // Linux reports ru_maxrss in KiB.
    (code, usage.ru_maxrss as u64)
}

/// What a scenario is compared against: the database as the previous sync left it.
struct Snapshot {
    last_changed: String,
    history: u64,
    last_received: u64,
    /// The `updated_at` an incremental sync will send (watermark date less a day, the
    /// default lookback), or empty.
    filter: String,
}

impl Snapshot {
    fn take(path: &Path) -> Snapshot {
        let db = Db::open(path);
        Snapshot {
            last_changed: db.text("SELECT coalesce(max(last_changed_at), '') FROM customer_groups"),
            history: db.count("SELECT count(*) FROM customer_group_history"),
            last_received: db.count(
                "SELECT coalesce((SELECT received FROM sync_runs ORDER BY id DESC LIMIT 1), 0)",
            ),
            filter: db.text(
                "SELECT coalesce((SELECT date(watermark, '-1 day') FROM sync_state \
                 WHERE scope = 'all'), '')",
            ),
        }
    }
}

/// The SQLite ceiling: N records, already in memory as the API's response bodies, parsed and
/// written with their history rows by the simplest loop.
async fn floor(n: usize) -> Sample {
    let fake = start_fake(n).await;
    let bodies = fetch_bodies(&fake, n).await;
    fake.shutdown();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("floor.db");
    // The product's schema, by its own migrations; then the product's settings.
    Store::open(&path).await.expect("schema").close().await;
    tokio::task::spawn_blocking(move || {
        let db = Db::open(&path);
        db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = NORMAL");
        db.exec("PRAGMA foreign_keys = ON");
        // What the sync's page writer sets on its connection (`WRITER_PRAGMAS` in
        // src/store/groups.rs): the floor measures SQLite under the same settings.
        db.exec("PRAGMA wal_autocheckpoint = 8000");
        db.exec("PRAGMA journal_size_limit = 33554432");
        let started = Instant::now();
        let records = write_floor(&db, &bodies);
        let wall = started.elapsed().as_secs_f64();
        drop(db);
        drop(dir);
        Sample {
            records,
            wall,
            rss_kib: None,
            groups_written: records,
            history_written: records,
        }
    })
    .await
    .expect("floor")
}

fn write_floor(db: &Db, bodies: &[Vec<u8>]) -> u64 {
    let mut group = db.prepare(
        "INSERT INTO customer_groups (id, business_code, group_name, group_description, \
         created_at, updated_at, raw_json, first_seen_at, last_changed_at, deleted_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
    );
    let mut history = db.prepare(
        "INSERT INTO customer_group_history \
         (group_id, sync_run_id, change, recorded_at, updated_at, raw_json) \
         VALUES (?, NULL, 'insert', ?, ?, ?)",
    );
    let mut records = 0;
    for body in bodies {
        let parsed = parse_body(body).expect("a JSON body");
        let Content::Groups(groups) = parsed.content else {
            panic!("a page without groups");
        };
        let now = format_timestamp(now_utc());
        db.exec("BEGIN");
        for r in &groups.records {
            let created = r.created_at.map(format_timestamp);
            let updated = r.updated_at.map(format_timestamp);
            group.run(&[
                Val::Int(r.id),
                r.business_code.map_or(Val::Null, Val::Int),
                Val::opt(r.group_name.as_deref()),
                Val::opt(r.group_description.as_deref()),
                Val::opt(created.as_deref()),
                Val::opt(updated.as_deref()),
                Val::Text(&r.raw_json),
                Val::Text(&now),
                Val::Text(&now),
            ]);
            history.run(&[
                Val::Int(r.id),
                Val::Text(&now),
                Val::opt(updated.as_deref()),
                Val::Text(&r.raw_json),
            ]);
        }
        db.exec("COMMIT");
        records += groups.records.len() as u64;
    }
    records
}

/// Every page the sync would fetch, as raw bodies.
async fn fetch_bodies(fake: &FakeApi, n: usize) -> Vec<Vec<u8>> {
    let client = reqwest::Client::new();
    let mut bodies = Vec::with_capacity(n.div_ceil(PER_PAGE));
    for page in 1..=n.div_ceil(PER_PAGE).max(1) {
        let url = format!("{}?page={page}", fake.api_url());
        let body = client
            .get(&url)
            .bearer_auth(KEY)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("page fetched")
            .bytes()
            .await
            .expect("page body");
        bodies.push(body.to_vec());
    }
    bodies
}

// ---- a minimal wrapper of SQLite's C API, for the floor and the checks ----

struct Db(*mut ffi::sqlite3);

enum Val<'a> {
    Int(i64),
    Text(&'a str),
    Null,
}

impl<'a> Val<'a> {
    fn opt(text: Option<&'a str>) -> Val<'a> {
        text.map_or(Val::Null, Val::Text)
    }
}

impl Db {
    fn open(path: &Path) -> Db {
        let name = CString::new(path.to_str().expect("UTF-8 path")).expect("path");
        let mut db = std::ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `db` receives the handle (closed in Drop).
        let rc = unsafe {
            ffi::sqlite3_open_v2(
                name.as_ptr(),
                &mut db,
                ffi::SQLITE_OPEN_READWRITE,
                std::ptr::null(),
            )
        };
        let db = Db(db);
        db.check(rc, "open");
        // SAFETY: `db.0` is an open handle.
        unsafe { ffi::sqlite3_busy_timeout(db.0, 30_000) };
        db
    }

    fn check(&self, rc: c_int, what: &str) {
        if rc != ffi::SQLITE_OK && rc != ffi::SQLITE_ROW && rc != ffi::SQLITE_DONE {
            // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by the handle.
            let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.0)) };
            panic!("sqlite {what}: {rc}: {}", msg.to_string_lossy());
        }
    }

    fn exec(&self, sql: &str) {
        let sql = CString::new(sql).expect("sql");
        // SAFETY: open handle, NUL-terminated SQL, no callback.
        let rc = unsafe {
            ffi::sqlite3_exec(
                self.0,
                sql.as_ptr(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        self.check(rc, "exec");
    }

    fn prepare(&self, sql: &str) -> Stmt<'_> {
        let sql = CString::new(sql).expect("sql");
        let mut stmt = std::ptr::null_mut();
        // SAFETY: open handle, NUL-terminated SQL; `stmt` receives the statement (finalized
        // in Drop, before the handle closes since it borrows the Db).
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(self.0, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut())
        };
        self.check(rc, "prepare");
        Stmt { db: self, stmt }
    }

    fn count(&self, sql: &str) -> u64 {
        let mut stmt = self.prepare(sql);
        stmt.step_row();
        // SAFETY: the statement has a current row with at least one column.
        unsafe { ffi::sqlite3_column_int64(stmt.stmt, 0) as u64 }
    }

    fn text(&self, sql: &str) -> String {
        let mut stmt = self.prepare(sql);
        stmt.step_row();
        // SAFETY: the statement has a current row; the text stays valid until the next step,
        // and it is copied before that.
        unsafe {
            let p = ffi::sqlite3_column_text(stmt.stmt, 0);
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p.cast()).to_string_lossy().into_owned()
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // SAFETY: every statement borrowed this Db and is finalized by now.
        unsafe { ffi::sqlite3_close(self.0) };
    }
}

struct Stmt<'db> {
    db: &'db Db,
    stmt: *mut ffi::sqlite3_stmt,
}

impl Stmt<'_> {
    /// Binds `values`, runs the statement to completion and resets it.
    fn run(&mut self, values: &[Val<'_>]) {
        for (i, v) in values.iter().enumerate() {
            let i = i as c_int + 1;
            // SAFETY: a prepared statement; SQLITE_STATIC (`None`) is sound because the
            // bound text outlives the step below, and the bindings are cleared after it.
            let rc = unsafe {
                match v {
                    Val::Int(n) => ffi::sqlite3_bind_int64(self.stmt, i, *n),
                    Val::Text(t) => ffi::sqlite3_bind_text(
                        self.stmt,
                        i,
                        t.as_ptr().cast(),
                        t.len() as c_int,
                        None,
                    ),
                    Val::Null => ffi::sqlite3_bind_null(self.stmt, i),
                }
            };
            self.db.check(rc, "bind");
        }
        // SAFETY: a prepared statement with every parameter bound.
        let rc = unsafe { ffi::sqlite3_step(self.stmt) };
        self.db.check(rc, "step");
        // SAFETY: as above.
        unsafe {
            ffi::sqlite3_reset(self.stmt);
            ffi::sqlite3_clear_bindings(self.stmt);
        }
    }

    fn step_row(&mut self) {
        // SAFETY: a prepared statement.
        let rc = unsafe { ffi::sqlite3_step(self.stmt) };
        assert_eq!(rc, ffi::SQLITE_ROW, "a query returns one row");
    }
}

impl Drop for Stmt<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement was prepared on this Db and is finalized once.
        unsafe { ffi::sqlite3_finalize(self.stmt) };
    }
}

// ---- the report ----

fn print_machine(plan: &Plan) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or("?".to_owned(), |kib| format!("{} MiB", kib / 1024));
    println!("xtrakit-sync benchmark: {cores} cores, {mem} RAM; sync = {BINARY} --once");
    println!(
        "sizes {:?}, noop on {:?}, {} per page, history on; median of {} run(s)",
        plan.sizes, plan.noop_sizes, PER_PAGE, plan.runs
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The median of each figure over the runs.
fn summary(samples: &[Sample]) -> Sample {
    let pick = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
    Sample {
        records: pick(|s| s.records as f64) as u64,
        wall: pick(|s| s.wall),
        rss_kib: samples[0]
            .rss_kib
            .map(|_| pick(|s| s.rss_kib.unwrap_or(0) as f64) as u64),
        groups_written: pick(|s| s.groups_written as f64) as u64,
        history_written: pick(|s| s.history_written as f64) as u64,
    }
}

/// `a`'s wall time over `b`'s for size `n`: the median of the ratios of the same run, so that
/// a disturbance of the machine during one run counts once; the ratio of the medians when the
/// runs do not pair up.
fn ratio(results: &Results, a: &'static str, b: &'static str, n: usize) -> Option<f64> {
    let a = results.get(&(order(a), a, n))?;
    let b = results.get(&(order(b), b, n))?;
    if a.len() == b.len() {
        Some(median(
            a.iter().zip(b).map(|(x, y)| x.wall / y.wall).collect(),
        ))
    } else {
        Some(summary(a).wall / summary(b).wall)
    }
}

fn print_table(plan: &Plan, results: &Results, launcher_peak_kib: u64) {
    println!();
    println!(
        "{:<17} {:>9} {:>9} {:>9} {:>10} {:>9} {:>19}  note",
        "scenario", "N", "records", "wall s", "records/s", "RSS MiB", "rows written"
    );
    for ((_, scenario, n), samples) in results {
        let s = summary(samples);
        let rss = s
            .rss_kib
            .map_or("-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
        let note = match *scenario {
            "full" => ratio(results, "full", "floor", *n).map(|r| format!("{r:.2}x floor")),
            "incremental-1pct" => ratio(results, "incremental-1pct", "full", *n)
                .map(|r| format!("{:.1}% of full", 100.0 * r)),
            _ => None,
        };
        let walls: Vec<String> = samples.iter().map(|x| format!("{:.3}", x.wall)).collect();
        println!(
            "{:<17} {:>9} {:>9} {:>9.3} {:>10.0} {:>9} {:>19}  {} [wall s: {}]",
            scenario,
            n,
            s.records,
            s.wall,
            s.records as f64 / s.wall.max(1e-9),
            rss,
            format!("{} + {} hist", s.groups_written, s.history_written),
            note.unwrap_or_default(),
            walls.join(" "),
        );
    }
    println!(
        "(medians; RSS is the sync process's peak, ru_maxrss from wait4, never below the \
         launcher's own {:.1} MiB; rows written = customer_groups rows changed + history rows)",
        launcher_peak_kib as f64 / 1024.0
    );
    print_targets(plan, results);
}

fn print_targets(plan: &Plan, results: &Results) {
    let big = plan.sizes.iter().copied().max().unwrap_or(0);
    let small = plan.sizes.iter().copied().min().unwrap_or(0);
    let figure = |scenario: &'static str, n| {
        results
            .get(&(order(scenario), scenario, n))
            .map(|s| summary(s))
    };
    let verdict = |ok: bool| if ok { "holds" } else { "MISSED" };
    println!();
    println!("targets (issue 4):");
    if let Some(r) = ratio(results, "full", "floor", big) {
        println!("  full {big} <= 1.5x floor: {r:.2}x  {}", verdict(r <= 1.5));
    }
    let rss = |n| {
        figure("full", n)
            .and_then(|s| s.rss_kib)
            .map(|k| k as f64 / 1024.0)
    };
    if let Some(mib) = rss(big) {
        println!(
            "  peak RSS full {big} <= 48 MiB: {mib:.1} MiB  {}",
            verdict(mib <= 48.0)
        );
    }
    if let (Some(a), Some(b)) = (rss(small), rss(big)) {
        if small != big {
            let growth = b / a - 1.0;
            println!(
                "  RSS flat, {small} vs {big} within 10%: {a:.1} vs {b:.1} MiB ({:+.1}%)  {}",
                100.0 * growth,
                verdict(growth.abs() <= 0.10)
            );
        }
    }
    let noop_small = plan.noop_sizes.iter().copied().min().unwrap_or(0);
    let noop_big = plan.noop_sizes.iter().copied().max().unwrap_or(0);
    if let (Some(a), Some(b)) = (figure("noop", noop_small), figure("noop", noop_big)) {
        let r = b.wall / a.wall;
        println!(
            "  noop {noop_big} within 1.2x of noop {noop_small} and < 0.5 s: {:.3} s vs {:.3} s \
             ({r:.2}x)  {}",
            b.wall,
            a.wall,
            verdict(r <= 1.2 && b.wall < 0.5)
        );
    }
    let noops = results.iter().filter(|((_, s, _), _)| *s == "noop");
    let written: u64 = noops
        .flat_map(|(_, samples)| samples)
        .map(|s| s.groups_written + s.history_written)
        .sum();
    println!(
        "  noop writes no customer_groups or history row (all noop runs): {written} written  {}",
        verdict(written == 0)
    );
    if let Some(r) = ratio(results, "incremental-1pct", "full", big) {
        println!(
            "  incremental-1pct {big} < 5% of full: {:.1}%  {}",
            100.0 * r,
            verdict(r < 0.05)
        );
    }
}
