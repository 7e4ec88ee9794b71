//! The randomised, model-based fault test (issue 7, point 5).
//!
//! Random histories of upstream changes (also during a run), faults, pagination styles,
//! filters, `--once` and `--full` runs and a binary killed mid-run are played against the
//! fake API and a real database; after every step the database is checked against the
//! upstream (`check.rs`). A failing history is shrunk by proptest and printed; every one
//! found is kept, written out, in `regressions.rs`.
//!
//! - `XTRAKIT_MODEL_CASES=N`: how many random histories (default 200: under a minute here).
//! - `XTRAKIT_MODEL_LEAVE_OUT=proxy-5xx,end-date,...` (or `known-defects` for all): leave
//!   out the scenario families that hit defects of issue 7 (and their regression cases), to
//!   check the harness itself on code where they are still open (`history::FAMILIES`).
//! - `XTRAKIT_MODEL_SHRINK_SECS=N`: how long shrinking may take (default 120).
//! - `XTRAKIT_MODEL_VERBOSE=1`: print what every history did, passing ones included.

mod check;
mod faults;
mod history;
mod kill;
mod regressions;
mod runner;
mod selftest;
mod upstream;

use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use history::{History, Scenarios};
use runner::Harness;

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn scenarios() -> Scenarios {
    Scenarios::leaving_out(&std::env::var("XTRAKIT_MODEL_LEAVE_OUT").unwrap_or_default())
}

/// Plays a history in a runtime of its own; the error names the invariant, the step and
/// what each step resolved to.
fn play(history: &History) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut harness = Harness::start(history.groups).await;
        for (i, step) in history.steps.iter().enumerate() {
            if let Err(broken) = harness.step(step).await {
                let trace = harness.trace.join("\n    ");
                return Err(format!(
                    "step {i} {step:?}: {broken}\n  trace:\n    {trace}"
                ));
            }
        }
        if std::env::var_os("XTRAKIT_MODEL_VERBOSE").is_some() {
            eprintln!("history passed:\n    {}", harness.trace.join("\n    "));
        }
        Ok(())
    })
}

#[test]
fn random_histories_keep_the_database_true_to_the_upstream() {
    let config = Config {
        cases: env_number("XTRAKIT_MODEL_CASES", 200),
        failure_persistence: None,
        max_shrink_time: env_number("XTRAKIT_MODEL_SHRINK_SECS", 120) * 1000,
        max_shrink_iters: 2048,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = std::time::Instant::now();
    let result = runner.run(&history::history(scenarios()), |h| {
        play(&h).map_err(TestCaseError::fail)
    });
    eprintln!("model: histories ran in {:?}", started.elapsed());
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, minimal)) => {
            panic!("{reason}\n\nminimal history:\n{minimal}")
        }
        Err(TestError::Abort(reason)) => panic!("model test aborted: {reason}"),
    }
}

#[test]
fn every_failing_history_found_so_far_now_passes() {
    let scenarios = scenarios();
    let mut failures = Vec::new();
    for case in regressions::cases() {
        if let Some(family) = case.family.filter(|f| !scenarios.includes(f)) {
            eprintln!("left out: {} ({family})", case.name);
            continue;
        }
        if let Err(e) = play(&case.history) {
            failures.push(format!("{} ({:?}):\n{e}", case.name, case.family));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
