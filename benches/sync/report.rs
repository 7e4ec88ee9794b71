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

pub(crate) fn print_table(plan: &Plan, results: &Results, launcher_peak_kib: u64) {
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
