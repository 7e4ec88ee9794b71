//! The checks themselves can fail: each invariant is shown a database that breaks it.

use std::collections::BTreeSet;

use super::check::{check_files, check_run, DbState, Outcome, RunFacts, Upstream};
use super::history::{Glitch, Run, Step};
use super::runner::Harness;
use crate::helpers::KEY;

fn upstream(ids: &[i64]) -> Upstream {
    ids.iter()
        .map(|id| (*id, format!("{{\"id\":{id}}}")))
        .collect()
}

fn db(live: &[i64], deleted: &[i64], watermark: Option<&str>) -> DbState {
    let mut state = DbState {
        watermark: watermark.map(str::to_owned),
        ..DbState::default()
    };
    for (id, raw) in upstream(live) {
        state.rows.insert(id, (raw, None));
    }
    for (id, raw) in upstream(deleted) {
        state
            .rows
            .insert(id, (raw, Some("2026-01-01 00:00:00".into())));
    }
    state
}

fn full_run(before: &[i64], after: &[i64]) -> RunFacts {
    RunFacts {
        full: true,
        outcome: Outcome::Success,
        started_at: "2026-01-02 00:00:00".into(),
        allow_mass_delete: false,
        upstream_before: upstream(before),
        upstream_after: upstream(after),
        rejected: BTreeSet::new(),
        touched: BTreeSet::new(),
        rows_shifted: false,
        owed: BTreeSet::new(),
        must_succeed: false,
        blind_filter: false,
        listing_complete: true,
    }
}

fn broken(before: &DbState, after: &DbState, facts: &RunFacts) -> String {
    check_run(before, after, facts).expect_err("the check must fail")
}

#[test]
fn checks_pass_a_full_run_that_mirrors_the_upstream() {
    let before = db(&[1, 2, 3], &[], None);
    let after = db(&[1, 2], &[3], Some("2026-01-01 00:00:00"));
    let facts = full_run(&[1, 2], &[1, 2]);
    assert_eq!(check_run(&before, &after, &facts), Ok(()));
}

#[test]
fn checks_catch_a_group_present_all_along_marked_deleted() {
    let before = db(&[1, 2, 3], &[], None);
    let after = db(&[1, 3], &[2], None);
    let facts = full_run(&[1, 2, 3], &[1, 2, 3]);
    assert!(broken(&before, &after, &facts).starts_with("(a)"));
}

#[test]
fn checks_catch_a_change_a_successful_run_left_behind() {
    let before = db(&[1], &[], None);
    let mut facts = full_run(&[1, 2], &[1, 2]);
    facts.full = false;
    assert!(broken(&before, &before, &facts).starts_with("(c)"));
}

#[test]
fn checks_catch_deletions_past_the_guard() {
    let before = db(&[1, 2, 3, 4], &[], None);
    let after = db(&[4], &[1, 2, 3], None);
    let facts = full_run(&[4], &[4]);
    assert!(broken(&before, &after, &facts).starts_with("(b)"));
}

#[test]
fn checks_catch_a_watermark_past_the_run_start_or_moved_by_a_failure() {
    let before = db(&[1], &[], Some("2026-01-01 00:00:00"));
    let after = db(&[1], &[], Some("2099-01-01 00:00:00"));
    let facts = full_run(&[1], &[1]);
    assert!(broken(&before, &after, &facts).starts_with("(d)"));
    let failed = RunFacts {
        outcome: Outcome::Failed,
        ..full_run(&[1], &[1])
    };
    assert!(broken(&before, &after, &failed).starts_with("(d)"));
}

#[tokio::test]
async fn checks_catch_a_group_lost_behind_the_daemons_back_and_a_leaked_key() {
    let mut harness = Harness::start(4).await;
    let run = Step::Run(Run {
        full: false,
        allow_mass_delete: true,
        faults: vec![Glitch::Pass],
        churn: vec![],
    });
    harness.step(&run).await.expect("a plain first run");
    let pool = harness.app.db().await;
    sqlx::query("UPDATE customer_groups SET deleted_at = '2026-01-01 00:00:00' WHERE id = 2")
        .execute(&pool)
        .await
        .expect("tamper");
    sqlx::query("INSERT INTO sync_log (at, level, event, message) VALUES ('x', 'info', 'x', $1)")
        .bind(KEY)
        .execute(&pool)
        .await
        .expect("leak");
    pool.close().await;

    let err = harness.step(&run).await.expect_err("caught");

    assert!(err.starts_with("(c)"), "{err}");
    let err = check_files(&harness.app, &[]).await.expect_err("caught");
    assert!(err.starts_with("(e)"), "{err}");
}
