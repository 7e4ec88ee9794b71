//! Medians, ratios and the printed table.

use super::*;

pub(crate) fn print_machine(plan: &Plan) {
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

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The median of each figure over the runs.
pub(crate) fn summary(samples: &[Sample]) -> Sample {
    let pick = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
    Sample {
        records: pick(|s| s.records as f64) as u64,
        wall: pick(|s| s.wall),
        rss_kib: samples[0]
            .rss_kib
            .map(|_| pick(|s| s.rss_kib.unwrap_or(0) as f64) as u64),
        groups_written: pick(|s| s.groups_written as f64) as u64,
        history_written: pick(|s| s.history_written as f64) as u64,
        wire: samples[0].wire.map(|_| WireBytes {
            sent: pick(|s| s.wire.map_or(0, |w| w.sent) as f64) as u64,
            decoded: pick(|s| s.wire.map_or(0, |w| w.decoded) as f64) as u64,
        }),
    }
}

/// `a`'s wall time over `b`'s for size `n`: the median of the ratios of the same run, so that
/// a disturbance of the machine during one run counts once; the ratio of the medians when the
/// runs do not pair up.
pub(crate) fn ratio(results: &Results, a: &'static str, b: &'static str, n: usize) -> Option<f64> {
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

/// What a scenario's wall time is compared with, and how the ratio reads.
fn note(results: &Results, scenario: &str, n: usize, summary: &Sample) -> Option<String> {
    match scenario {
        "full" => ratio(results, "full", "load-floor", n).map(|r| format!("{r:.2}x load floor")),
        "incremental-1pct" => ratio(results, "incremental-1pct", "update-floor", n)
            .map(|r| format!("{r:.2}x update floor")),
        "pg-full" => {
            ratio(results, "pg-full", "pg-copy-floor", n).map(|r| format!("{r:.2}x COPY floor"))
        }
        "latency-numbered" | "latency-links" => Some(format!(
            "{:.2}x of {}",
            summary.wall / latency_floor(),
            latency_text()
        )),
        _ => None,
    }
}

/// 100 requests one after another, each waiting 50 ms: what a sync that hides nothing pays.
fn latency_floor() -> f64 {
    LATENCY_PAGES as f64 * LATENCY_MS as f64 / 1000.0
}

fn latency_text() -> String {
    format!("{LATENCY_PAGES} x {LATENCY_MS} ms")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub(crate) fn print_table(plan: &Plan, results: &Results, launcher_peak_kib: u64) {
    println!();
    println!(
        "{:<17} {:>9} {:>9} {:>9} {:>10} {:>8} {:>19} {:>15}  note",
        "scenario", "N", "records", "wall s", "records/s", "RSS MiB", "rows written", "wire MB"
    );
    for ((_, scenario, n), samples) in results {
        let s = summary(samples);
        let rss = s
            .rss_kib
            .map_or("-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
        let wire = s.wire.map_or("-".to_owned(), |w| {
            format!("{:.1} / {:.1}", mib(w.sent), mib(w.decoded))
        });
        let walls: Vec<String> = samples.iter().map(|x| format!("{:.3}", x.wall)).collect();
        println!(
            "{:<17} {:>9} {:>9} {:>9.3} {:>10.0} {:>8} {:>19} {:>15}  {} [wall s: {}]",
            scenario,
            n,
            s.records,
            s.wall,
            s.records as f64 / s.wall.max(1e-9),
            rss,
            format!("{} + {} hist", s.groups_written, s.history_written),
            wire,
            note(results, scenario, *n, &s).unwrap_or_default(),
            walls.join(" "),
        );
    }
    println!(
        "(medians; RSS is the sync process's peak, ru_maxrss from wait4, never below the \
         launcher's own {:.1} MiB; rows written = customer_groups rows changed + history rows; \
         wire MB = sent gzip-compressed / decoded)",
        launcher_peak_kib as f64 / 1024.0
    );
    print_targets(plan, results);
}

pub(crate) fn print_targets(plan: &Plan, results: &Results) {
    let big = plan.sizes.iter().copied().max().unwrap_or(0);
    let small = plan.sizes.iter().copied().min().unwrap_or(0);
    let figure = |scenario: &'static str, n| {
        results
            .get(&(order(scenario), scenario, n))
            .map(|s| summary(s))
    };
    let verdict = |ok: bool| if ok { "holds" } else { "MISSED" };
    println!();
    println!("targets (issues 4, 9 and 12):");
    if let Some(r) = ratio(results, "full", "load-floor", big) {
        println!(
            "  full {big} <= 1.0x load floor: {r:.2}x  {}",
            verdict(r <= 1.0)
        );
    }
    if let Some(mib) = peak_mib(results, "full", big) {
        println!(
            "  peak RSS full {big} <= 32 MiB: {mib:.1} MiB  {}",
            verdict(mib <= 32.0)
        );
    }
    print_rss_flat(results, "full", small, big);
    if let Some(r) = ratio(results, "incremental-1pct", "update-floor", big) {
        println!(
            "  incremental-1pct {big} <= 1.3x update floor: {r:.2}x  {}",
            verdict(r <= 1.3)
        );
    }
    print_noop_targets(plan, results);
    let latency = |scenario: &'static str, limit: f64| {
        let n = LATENCY_PAGES * PER_PAGE;
        if let Some(s) = figure(scenario, n) {
            let r = s.wall / latency_floor();
            println!(
                "  {scenario} <= {limit:.2}x of {}: {:.3} s = {r:.2}x  {}",
                latency_text(),
                s.wall,
                verdict(r <= limit)
            );
        }
    };
    latency("latency-numbered", 0.35);
    latency("latency-links", 1.1);
    print_postgres_targets(plan, results);
    if let Some(w) = figure("full", big).and_then(|s| s.wire) {
        println!(
            "  full {big} on the wire: {:.1} MiB compressed for {:.1} MiB of JSON ({:.1}x smaller)",
            mib(w.sent),
            mib(w.decoded),
            w.decoded as f64 / w.sent.max(1) as f64
        );
    }
}

fn print_noop_targets(plan: &Plan, results: &Results) {
    let figure = |scenario: &'static str, n| {
        results
            .get(&(order(scenario), scenario, n))
            .map(|s| summary(s))
    };
    let verdict = |ok: bool| if ok { "holds" } else { "MISSED" };
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
}

/// Issue 12: PostgreSQL's full load within 1.5x of the COPY floor, memory flat in N.
fn print_postgres_targets(plan: &Plan, results: &Results) {
    let big = plan.sizes.iter().copied().max().unwrap_or(0);
    let small = plan.sizes.iter().copied().min().unwrap_or(0);
    let verdict = |ok: bool| if ok { "holds" } else { "MISSED" };
    if let Some(r) = ratio(results, "pg-full", "pg-copy-floor", big) {
        println!(
            "  pg-full {big} <= 1.5x COPY floor: {r:.2}x  {}",
            verdict(r <= 1.5)
        );
    }
    print_rss_flat(results, "pg-full", small, big);
}

/// The median peak RSS of `scenario` at `n`, in MiB.
fn peak_mib(results: &Results, scenario: &'static str, n: usize) -> Option<f64> {
    results
        .get(&(order(scenario), scenario, n))
        .and_then(|s| summary(s).rss_kib)
        .map(|k| k as f64 / 1024.0)
}

/// Whether `scenario`'s memory stays flat in N: within 10 % from `small` to `big`.
fn print_rss_flat(results: &Results, scenario: &'static str, small: usize, big: usize) {
    let (Some(a), Some(b)) = (
        peak_mib(results, scenario, small),
        peak_mib(results, scenario, big),
    ) else {
        return;
    };
    if small != big {
        let growth = b / a - 1.0;
        let verdict = if growth.abs() <= 0.10 {
            "holds"
        } else {
            "MISSED"
        };
        println!(
            "  {scenario} RSS flat, {small} vs {big} within 10%: {a:.1} vs {b:.1} MiB ({:+.1}%)  {verdict}",
            100.0 * growth
        );
    }
}
