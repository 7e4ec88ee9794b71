//! The invariants, checked after every step: what the database must hold given what the
//! upstream held before and after a run, and what that run was.

use std::collections::{BTreeMap, BTreeSet};

use crate::helpers::{TestApp, KEY};

/// One upstream: id → the record's JSON exactly as the API sends it.
pub(crate) type Upstream = BTreeMap<i64, String>;

/// The part of the database the invariants look at.
#[derive(Clone, Debug, Default)]
pub(crate) struct DbState {
    /// id → (raw_json, deleted_at)
    pub(crate) rows: BTreeMap<i64, (String, Option<String>)>,
    pub(crate) watermark: Option<String>,
    pub(crate) guard_events: i64,
}

impl DbState {
    pub(crate) async fn read(app: &TestApp) -> DbState {
        let pool = app.db().await;
        let rows: Vec<(i64, String, Option<String>)> =
            sqlx::query_as("SELECT id, raw_json, deleted_at FROM customer_groups")
                .fetch_all(&pool)
                .await
                .expect("rows");
        pool.close().await;
        DbState {
            rows: rows.into_iter().map(|(id, r, d)| (id, (r, d))).collect(),
            watermark: app.watermark().await,
            guard_events: app.events("deletion_guard").await,
        }
    }

    pub(crate) fn live(&self) -> BTreeSet<i64> {
        let live = self.rows.iter().filter(|(_, (_, d))| d.is_none());
        live.map(|(id, _)| *id).collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failed,
    /// `kill -9` mid-run.
    Killed,
}

/// Everything known about one run.
#[derive(Debug)]
pub(crate) struct RunFacts {
    pub(crate) full: bool,
    pub(crate) outcome: Outcome,
    pub(crate) started_at: String,
    pub(crate) allow_mass_delete: bool,
    pub(crate) upstream_before: Upstream,
    pub(crate) upstream_after: Upstream,
    /// Ids whose upstream record is rejected by the daemon (a malformed `group_name`).
    pub(crate) rejected: BTreeSet<i64>,
    /// Ids an upstream change touched while the run was going on.
    pub(crate) touched: BTreeSet<i64>,
    /// The run's faults were few enough that its retries must have absorbed them.
    pub(crate) must_succeed: bool,
    /// An end-date filter answered without a single record older than the date sent: the
    /// daemon had no evidence that the filter was not honoured.
    pub(crate) blind_filter: bool,
    /// A group was removed upstream during the run: later rows shifted one place back.
    pub(crate) rows_shifted: bool,
    /// Ids an earlier run with shifted rows may have skipped, still owed (see the harness).
    pub(crate) owed: BTreeSet<i64>,
    /// No `count_mismatch` could arise: a full listing that succeeds is complete.
    pub(crate) listing_complete: bool,
}

impl RunFacts {
    fn churned(&self) -> bool {
        !self.touched.is_empty()
    }

    /// Ids upstream from the start of the run to its end.
    fn present_throughout(&self) -> BTreeSet<i64> {
        let after = self.upstream_after.keys().copied().collect::<BTreeSet<_>>();
        let before = self
            .upstream_before
            .keys()
            .copied()
            .collect::<BTreeSet<_>>();
        // Churn only ever removes an id for good, so present at both ends is present throughout.
        before.intersection(&after).copied().collect()
    }
}

/// Every invariant about one run; the first one broken is the error.
pub(crate) fn check_run(before: &DbState, after: &DbState, f: &RunFacts) -> Result<(), String> {
    if f.must_succeed && f.outcome != Outcome::Success {
        return Err("(g) a run whose faults its retries absorb must succeed".into());
    }
    never_deletes_a_present_group(before, after, f)?;
    watermark_moves_only_forward_and_on_success(before, after, f)?;
    if f.outcome != Outcome::Success {
        return Ok(());
    }
    // A listing read while a group is deleted upstream can skip the row at a page boundary;
    // when the count reveals it the scope is read again, but an insertion at the same time
    // keeps the count right and nothing shows. Such a row is stored by the next listing that
    // reaches it (the next full run, or the next incremental one within the look-back).
    if !f.blind_filter && !f.rows_shifted {
        stores_every_change_made_before_the_run(after, f)?;
    }
    if f.full && !f.churned() {
        full_run_mirrors_the_upstream(before, after, f)?;
    }
    Ok(())
}

/// (a) No group present upstream during the whole run is marked deleted by it.
fn never_deletes_a_present_group(
    before: &DbState,
    after: &DbState,
    f: &RunFacts,
) -> Result<(), String> {
    let newly_deleted: Vec<i64> = f
        .present_throughout()
        .into_iter()
        .filter(|id| {
            let deleted = |db: &DbState| db.rows.get(id).and_then(|(_, d)| d.clone());
            let now = deleted(after);
            now.is_some() && now != deleted(before)
        })
        .collect();
    if newly_deleted.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "(a) groups present upstream for the whole run were marked deleted: {newly_deleted:?}"
        ))
    }
}

/// (d) The watermark never decreases, never passes the start of the run that set it, and
/// moves only when a run succeeds.
fn watermark_moves_only_forward_and_on_success(
    before: &DbState,
    after: &DbState,
    f: &RunFacts,
) -> Result<(), String> {
    let (was, is) = (&before.watermark, &after.watermark);
    if was == is {
        return Ok(());
    }
    if f.outcome != Outcome::Success {
        return Err(format!(
            "(d) a run that did not succeed ({:?}) moved the watermark {was:?} -> {is:?}",
            f.outcome
        ));
    }
    match (was, is) {
        (_, None) => Err(format!("(d) the watermark was cleared: {was:?} -> None")),
        (Some(w), Some(i)) if i < w => Err(format!("(d) the watermark went back: {w} -> {i}")),
        (_, Some(i)) if *i > f.started_at => Err(format!(
            "(d) the watermark {i} passed the run's start {}",
            f.started_at
        )),
        _ => Ok(()),
    }
}

/// (c) After a successful run every record upstream at its start, and not touched during
/// it, is stored live with its raw JSON (rejected records excepted).
fn stores_every_change_made_before_the_run(after: &DbState, f: &RunFacts) -> Result<(), String> {
    let mut wrong = Vec::new();
    for (id, raw) in &f.upstream_before {
        if f.rejected.contains(id) || f.touched.contains(id) || f.owed.contains(id) {
            continue;
        }
        match after.rows.get(id) {
            Some((stored, None)) if stored == raw => {}
            Some((stored, deleted)) => wrong.push(format!(
                "{id}: stored {stored} (deleted_at {deleted:?}), upstream {raw}"
            )),
            None => wrong.push(format!("{id}: missing, upstream {raw}")),
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "(c) a successful run left changes made before it behind:\n  {}",
            wrong.join("\n  ")
        ))
    }
}

/// (b) After a successful full run without churn the live rows are the upstream's valid
/// records, plus what the mass-deletion guard held back, or everything when the listing was
/// not complete (a wrong count in the message).
fn full_run_mirrors_the_upstream(
    before: &DbState,
    after: &DbState,
    f: &RunFacts,
) -> Result<(), String> {
    let live_before = before.live();
    let upstream: BTreeSet<i64> = f.upstream_after.keys().copied().collect();
    let valid: BTreeSet<i64> = upstream.difference(&f.rejected).copied().collect();
    let gone: BTreeSet<i64> = live_before.difference(&upstream).copied().collect();
    let guard = f.listing_complete
        && !f.allow_mass_delete
        && gone.len() as f64 > 0.5 * live_before.len() as f64;
    let mut expected: BTreeSet<i64> = live_before.union(&valid).copied().collect();
    if guard && after.guard_events <= before.guard_events {
        return Err(format!(
            "(b) {} of {} live groups gone: the guard must hold and log deletion_guard",
            gone.len(),
            live_before.len()
        ));
    }
    if f.listing_complete && !guard {
        expected = expected.difference(&gone).copied().collect();
    }
    let live = after.live();
    if live != expected {
        let missing: Vec<_> = expected.difference(&live).collect();
        let extra: Vec<_> = live.difference(&expected).collect();
        return Err(format!(
            "(b) live rows after a full run: missing {missing:?}, not expected {extra:?} \
             (guard {guard}, gone upstream {gone:?})"
        ));
    }
    for id in &valid {
        let stored = after.rows.get(id).map(|(r, _)| r.as_str());
        if stored != f.upstream_after.get(id).map(String::as_str) {
            return Err(format!("(b) raw_json of {id} differs from the upstream"));
        }
    }
    Ok(())
}

/// (e) The key is nowhere in the database files or the outputs; (f) the database is sound.
pub(crate) async fn check_files(app: &TestApp, outputs: &[String]) -> Result<(), String> {
    for entry in std::fs::read_dir(app.dir.path()).expect("temp dir") {
        let path = entry.expect("dir entry").path();
        let bytes = std::fs::read(&path).unwrap_or_default();
        if bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()) {
            return Err(format!("(e) the API key is in {}", path.display()));
        }
    }
    if app.on_postgres() {
        // The database is on the server, not in a file here: search its text columns.
        let like = format!("%{KEY}%");
        let found = app
            .scalar(&format!(
                "SELECT (SELECT count(*) FROM sync_log WHERE message LIKE '{like}' \
                 OR detail LIKE '{like}') \
                 + (SELECT count(*) FROM sync_runs WHERE error LIKE '{like}') \
                 + (SELECT count(*) FROM customer_groups WHERE raw_json LIKE '{like}') \
                 + (SELECT count(*) FROM customer_group_history WHERE raw_json LIKE '{like}')"
            ))
            .await;
        if found > 0 {
            return Err(format!("(e) the API key is in {found} database rows"));
        }
    }
    if let Some(out) = outputs.iter().find(|o| o.contains(KEY)) {
        return Err(format!("(e) the API key is in an output:\n{out}"));
    }
    let integrity = app.integrity().await;
    if integrity.as_deref() != Some("ok") {
        return Err(format!("(f) integrity check: {integrity:?}"));
    }
    Ok(())
}

/// (h) Once a sync has run to its end, no run row is left `running` (a killed run's included).
pub(crate) async fn check_nothing_left_running(app: &TestApp) -> Result<(), String> {
    let running = app
        .scalar("SELECT count(*) FROM sync_runs WHERE status = 'running'")
        .await;
    if running == 0 {
        Ok(())
    } else {
        Err(format!(
            "(h) {running} run rows still 'running' after a sync"
        ))
    }
}
