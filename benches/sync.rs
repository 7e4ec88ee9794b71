//! The sync benchmark (the README's Performance section, issues 4 and 9).
//!
//! ```text
//! cargo bench --bench sync                 # the issues' scenarios, median of 3 runs
//! cargo bench --bench sync -- --quick      # 10 000 and 100 000 groups, one run
//! BENCH_N=200000 BENCH_RUNS=1 cargo bench --bench sync
//! cargo bench --bench sync -- --sizes 100000,1000000 --noop-sizes 10000,1000000 --runs 3
//! ```
//!
//! The fake API runs in this process and serves N generated groups, 1 000 per page, linked by
//! `next_page_url`, gzip-compressed (as the sync asks), over real HTTP on loopback. Each sync
//! is the release binary (`xtrakit-sync --once`, history on) in a child process on a fresh
//! SQLite file, started by a small launcher process, so the peak resident memory reported
//! (`ru_maxrss` from `wait4`) is the sync's alone, never the fake's. `cargo bench` builds that
//! binary with the bench (release) profile before running this. Every listing a sync makes is
//! fetched once beforehand, so the fake has its pages compressed: a real server compresses on
//! its own machine, not on the sync's two cores.
//!
//! Scenarios, for each size N:
//! - `load-floor`: the same N records, held in memory as response bodies, parsed with the
//!   library's parser and written with their history rows by the simplest loop on SQLite's C
//!   API (one transaction per page, one prepared `INSERT` per row, no HTTP, no run
//!   bookkeeping) into the same schema without its secondary indexes, which are then built
//!   once (timed): what a bulk load costs on this machine;
//! - `full`: the first sync of N groups into an empty database;
//! - `noop`: then incremental syncs with nothing new (for the `--noop-sizes`), each receiving
//!   the same 100 unchanged records whatever N (see `noops`), five per run;
//! - `update-floor`: the 1 % of groups the fake then changes, parsed from the listing the
//!   incremental sync will receive and applied with their history rows by the simplest loop
//!   (one `UPDATE` and one `INSERT` per row, one transaction per page) to the load floor's
//!   database, indexes live;
//! - `incremental-1pct`: the incremental sync of those changes.
//!
//! Then, once per run, `latency-numbered` and `latency-links`: a first sync of 100 pages of
//! 1 000 from a fake that waits 50 ms before each answer, with page numbers and with links.
//!
//! Figures are medians over the runs; a ratio (`full` to `load-floor`, `incremental-1pct` to
//! `update-floor`) is the median of the ratios within each run, so a disturbance of a shared
//! machine counts once. `rows written` counts the `customer_groups` rows the scenario changed
//! (those whose `last_changed_at` moved) and the history rows it added; a `noop` must write
//! none. `wire MB` is what the fake sent, then what the sync decoded from it.

#[path = "../tests/support/fake_api/mod.rs"]
mod fake_api;
#[path = "sync/floor.rs"]
mod floor;
#[path = "sync/launcher.rs"]
mod launcher;
#[path = "sync/postgres.rs"]
mod postgres;
#[path = "sync/report.rs"]
mod report;

use std::collections::BTreeMap;
use std::ffi::{c_int, CStr, CString};
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_api::{FakeApi, FakeOptions, LinkLocation, MetaLocation, Pagination, WireBytes};
use libsqlite3_sys as ffi;
use xtrakit_sync::api::{parse_body, Content, NextLink};
use xtrakit_sync::domain::{format_timestamp, now_utc};
use xtrakit_sync::store::{Store, LOAD_INDEXES};

use floor::*;
use launcher::*;
use report::*;

pub(crate) const KEY: &str = "bench-key";
pub(crate) const PER_PAGE: usize = 1000;
pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_xtrakit-sync");

/// What to run, from the command line and the environment.
pub(crate) struct Plan {
    pub(crate) sizes: Vec<usize>,
    pub(crate) noop_sizes: Vec<usize>,
    pub(crate) runs: usize,
}

impl Plan {
    pub(crate) fn from_args() -> Plan {
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

pub(crate) fn parse_sizes(text: &str) -> Vec<usize> {
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
pub(crate) struct Sample {
    pub(crate) records: u64,
    pub(crate) wall: f64,
    /// Peak resident set of the sync process; `None` for the in-process floor.
    pub(crate) rss_kib: Option<u64>,
    pub(crate) groups_written: u64,
    pub(crate) history_written: u64,
    /// Response bytes the fake sent (compressed) and the sync decoded; `None` for floors.
    pub(crate) wire: Option<WireBytes>,
}

type Results = BTreeMap<(usize, &'static str, usize), Vec<Sample>>;

pub(crate) fn order(scenario: &str) -> usize {
    match scenario {
        "load-floor" => 0,
        "full" => 1,
        "update-floor" => 2,
        "incremental-1pct" => 3,
        "noop" => 4,
        "latency-numbered" => 5,
        "latency-links" => 6,
        "pg-copy-floor" => 7,
        "pg-full" => 8,
        "pg-incremental-1pct" => 9,
        "pg-noop" => 10,
        _ => 11,
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
            runtime.block_on(size_scenarios(&launcher, n, noop, &mut results));
            if let Some(server) = postgres::server() {
                eprintln!("run {run}/{}: N = {n} on PostgreSQL", plan.runs);
                let scenarios =
                    postgres::postgres_scenarios(&launcher, &server, n, noop, &mut results);
                runtime.block_on(scenarios);
            }
        }
        for &n in plan.noop_sizes.iter().filter(|n| !plan.sizes.contains(n)) {
            eprintln!("run {run}/{}: noop on N = {n}", plan.runs);
            runtime.block_on(noop_only(&launcher, n, &mut results));
        }
        eprintln!(
            "run {run}/{}: {LATENCY_PAGES} pages at {LATENCY_MS} ms",
            plan.runs
        );
        runtime.block_on(latency_scenarios(&launcher, &mut results));
    }
    let launcher_peak = launcher.lock().expect("launcher").peak_kib;
    print_table(&plan, &results, launcher_peak);
}

pub(crate) fn push(results: &mut Results, n: usize, scenario: &'static str, sample: Sample) {
    results
        .entry((order(scenario), scenario, n))
        .or_default()
        .push(sample);
}

/// Noop syncs per size and run: each takes milliseconds, so one sample would be mostly noise.
pub(crate) const NOOP_REPEATS: usize = 5;

type Shared<T> = Arc<Mutex<T>>;

/// For one N, on one fake: the load floor, `full`, `noop` (if asked), then the update floor
/// and `incremental-1pct` on the same 1 % of changed groups.
pub(crate) async fn size_scenarios(
    launcher: &Shared<Launcher>,
    n: usize,
    noop: bool,
    results: &mut Results,
) {
    let fake = start_fake(n, link_pagination(), Duration::ZERO).await;
    let floor = FloorDb::new().await;
    let bodies = Arc::new(fetch_bodies(&fake.api_url()).await);
    push(results, n, "load-floor", floor.load(bodies).await);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("xtrakit.db");
    push(results, n, "full", run_sync(launcher, &fake, &db).await);
    if noop {
        noops(launcher, &fake, &db, n, results).await;
    }
    let stamp = format_timestamp(now_utc());
    let updated = fake.update_fraction(0.01, &stamp);
    // The listing the incremental sync will ask for, fetched once beforehand: the update
    // floor writes its changed records, and the fake has it compressed and filtered.
    let filter = Snapshot::take(&db).filter;
    let changed = fetch_bodies(&format!("{}?updated_at={filter}", fake.api_url())).await;
    push(
        results,
        n,
        "update-floor",
        floor.update(changed, updated.clone()).await,
    );
    let sample = run_sync(launcher, &fake, &db).await;
    assert_eq!(
        sample.groups_written,
        updated.len() as u64,
        "incremental-1pct must rewrite exactly the updated groups"
    );
    push(results, n, "incremental-1pct", sample);
    fake.shutdown();
}

/// Pages of the latency scenarios, and the fake's latency per request.
pub(crate) const LATENCY_PAGES: usize = 100;
pub(crate) const LATENCY_MS: u64 = 50;

/// A first sync of 100 pages from a fake that takes 50 ms to answer each request, once with
/// numbered pages and once with links: how much of the network's latency the sync hides.
pub(crate) async fn latency_scenarios(launcher: &Shared<Launcher>, results: &mut Results) {
    let n = LATENCY_PAGES * PER_PAGE;
    let numbered = Pagination::Numbered {
        location: MetaLocation::TopLevel,
    };
    for (scenario, pagination) in [
        ("latency-numbered", numbered),
        ("latency-links", link_pagination()),
    ] {
        let fake = start_fake(n, pagination, Duration::ZERO).await;
        // Compressed pages cached first, without the latency.
        fetch_numbered_or_linked(&fake, pagination).await;
        fake.set_latency(Duration::from_millis(LATENCY_MS));
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("xtrakit.db");
        push(results, n, scenario, run_sync(launcher, &fake, &db).await);
        fake.shutdown();
    }
}

async fn fetch_numbered_or_linked(fake: &FakeApi, pagination: Pagination) {
    match pagination {
        Pagination::Numbered { .. } => {
            for page in 1..=LATENCY_PAGES {
                fetch_bodies(&format!("{}?page={page}", fake.api_url())).await;
            }
        }
        _ => {
            fetch_bodies(&fake.api_url()).await;
        }
    }
}

/// A database of N rows made by a full sync (not reported), then the `noop` syncs.
pub(crate) async fn noop_only(launcher: &Shared<Launcher>, n: usize, results: &mut Results) {
    let fake = start_fake(n, link_pagination(), Duration::ZERO).await;
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
pub(crate) const NOOP_RECORDS: usize = 100;

pub(crate) async fn noops(
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

pub(crate) fn link_pagination() -> Pagination {
    Pagination::NextUrl {
        location: LinkLocation::TopLevel,
        absolute: true,
    }
}

pub(crate) async fn start_fake(n: usize, pagination: Pagination, latency: Duration) -> FakeApi {
    FakeApi::start(FakeOptions {
        api_key: Some(KEY.into()),
        pagination,
        per_page: PER_PAGE,
        groups: n,
        latency,
        ..FakeOptions::default()
    })
    .await
    .expect("fake API starts")
}

/// One `xtrakit-sync --once` against the fake; its wall time and peak memory, and what it
/// wrote according to the database.
pub(crate) async fn run_sync(launcher: &Shared<Launcher>, fake: &FakeApi, db: &Path) -> Sample {
    let before = db.exists().then(|| Snapshot::take(db));
    if let Some(before) = &before {
        // `last_changed_at` has second precision: start in a later second than any row.
        while format_timestamp(now_utc()) <= before.last_changed {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        warm_up(fake, &before.filter).await;
    }
    let wire_before = fake.wire_bytes();
    let (launcher, path, base) = (launcher.clone(), db.to_owned(), fake.base_url());
    let ran = tokio::task::spawn_blocking(move || {
        let dir = path.parent().expect("db in a dir");
        let db = path.to_str().expect("UTF-8 temp path");
        launcher.lock().expect("launcher").run(db, dir, &base)
    })
    .await
    .expect("launcher thread");
    if ran.code != 0 {
        let log = std::fs::read_to_string(db.with_file_name("sync.log")).unwrap_or_default();
        panic!("xtrakit-sync --once exited with {}:\n{log}", ran.code);
    }
    let wire_after = fake.wire_bytes();
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
        wire: Some(WireBytes {
            sent: wire_after.sent - wire_before.sent,
            decoded: wire_after.decoded - wire_before.decoded,
        }),
    }
}

/// Asks the fake once for the page an incremental sync will ask for first. The fake finds the
/// records of a filter by scanning all of them (then keeps the answer); a real API has an
/// index for that, so this scan is not the sync's cost.
pub(crate) async fn warm_up(fake: &FakeApi, filter: &str) {
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
