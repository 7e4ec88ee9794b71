//! Plays a history against the fake API and a real database, one step at a time, and checks
//! the invariants after each. `trace` says what each step resolved to (ids, outcomes), for
//! the failure message.

use std::collections::BTreeSet;
use std::time::Duration;

use xtrakit_sync::domain::RunStatus;

use super::check::{self, DbState, Outcome, RunFacts, Upstream};
use super::history::{Churn, Glitch, Paging, Run, Step, MAX_RETRIES};
use crate::fake_api::{FakeOptions, Fault, LinkLocation, MessageCount, Mutation, UpdatedAtFilter};
use crate::helpers::{spawn_app_with, Ask, TestApp};

pub(crate) struct Harness {
    pub(crate) app: TestApp,
    pub(super) next_id: i64,
    /// Ids whose upstream record is the malformed one `Reject` put there.
    pub(super) rejected: BTreeSet<i64>,
    /// Ids the fake serves verbatim (rejected or odd): an update replaces them.
    pub(super) raw: BTreeSet<i64>,
    /// Ids deleted upstream, which may come back.
    pub(super) removed: Vec<i64>,
    /// Ids a run may have skipped without a sign (rows shifted while it paged through and
    /// the count stayed right): owed by the next full run, or by an update of their own.
    pub(super) owed: BTreeSet<i64>,
    pub(super) paging: Paging,
    filter: UpdatedAtFilter,
    lying_count: bool,
    pub(crate) trace: Vec<String>,
}

/// A run about to start: what the model knows before it.
struct Start {
    db: DbState,
    upstream: Upstream,
    full: bool,
    requests: usize,
}

pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

impl Harness {
    pub(crate) async fn start(groups: u8) -> Harness {
        let mut app = spawn_app_with(FakeOptions {
            groups: groups.into(),
            ..FakeOptions::default()
        })
        .await;
        app.max_retries = MAX_RETRIES;
        // The database exists (migrated, empty) before the first step looks at it.
        app.syncer().await.store.close().await;
        Harness {
            app,
            next_id: i64::from(groups) + 1,
            rejected: BTreeSet::new(),
            raw: BTreeSet::new(),
            removed: Vec::new(),
            owed: BTreeSet::new(),
            paging: Paging::Whole,
            filter: UpdatedAtFilter::Since,
            lying_count: false,
            trace: vec![format!("{groups} generated groups upstream")],
        }
    }

    /// Plays one step, then checks every invariant that applies to it.
    pub(crate) async fn step(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Run(run) => return self.run(run).await,
            Step::Kill { pages } => return self.kill(*pages).await,
            Step::Insert(n) => self.insert(*n),
            Step::Update(sel, at) => self.update(sel, *at),
            Step::Delete(sel) => self.delete(sel),
            Step::Reject(target) => self.reject(*target),
            Step::OddTimestamp(target) => self.odd_timestamp(*target),
            Step::Revive(sel) => self.revive(*sel),
            Step::Turnover { percent, new } => self.turnover(*percent, *new),
            Step::Pages(p) => self.set_paging(*p),
            Step::LyingCount(lie) => {
                self.lying_count = *lie;
                let count = if *lie {
                    MessageCount::Fixed(999)
                } else {
                    MessageCount::Real
                };
                self.app.api.set_message_count(count);
                self.trace.push(format!("message count {count:?}"));
            }
            Step::Shape(shape) => {
                self.app.api.set_shape(*shape);
                self.trace.push(format!("records in a {shape:?} body"));
            }
            Step::Filter(f) => {
                self.filter = *f;
                self.app.api.set_updated_at_filter(*f);
                self.trace
                    .push(format!("the API reads updated_at as {f:?}"));
            }
        }
        check::check_files(&self.app, &[]).await
    }

    /// Pages the first listing of a full run has, at its start.
    fn pages(&self, records: usize) -> usize {
        match self.paging {
            Paging::Whole => 1,
            Paging::Next(_, n) | Paging::Numbered(_, n) => records.div_ceil(n.into()).max(1),
        }
    }

    async fn begin(&self, full: bool) -> Start {
        let db = DbState::read(&self.app).await;
        let full = full || db.watermark.is_none();
        Start {
            upstream: self.app.api.snapshot(),
            full,
            requests: self.app.api.request_count(),
            db,
        }
    }

    async fn run(&mut self, run: &Run) -> Result<(), String> {
        let start = self.begin(run.full).await;
        let faults = self.queue_faults(run, &start);
        let scheduled = self.schedule_churn(&run.churn);
        let report = self
            .app
            .sync_with(Ask {
                full: run.full,
                allow_mass_delete: run.allow_mass_delete,
            })
            .await;
        let outcome = match report.status {
            RunStatus::Success => Outcome::Success,
            _ => Outcome::Failed,
        };
        let touched = self.settle_churn(scheduled);
        let failing = faults.iter().filter(|g| g.fails()).count();
        let must_succeed = failing <= MAX_RETRIES as usize && touched.0.is_empty();
        self.trace.push(format!(
            "run full={} allow_mass_delete={} faults {faults:?}: {:?} {:?}",
            start.full, run.allow_mass_delete, report.status, report.error
        ));
        let outputs = [report.error.unwrap_or_default()];
        self.finish(start, outcome, run.allow_mass_delete, touched, must_succeed)
            .await?;
        check::check_files(&self.app, &outputs).await?;
        check::check_nothing_left_running(&self.app).await
    }

    /// Queues the run's faults; a fault meant for a linked page becomes `Pass` where the
    /// request it would hit is not surely a later page of a full run's first listing.
    fn queue_faults(&self, run: &Run, start: &Start) -> Vec<Glitch> {
        let pages = self.pages(start.upstream.len());
        let mut served_so_far = true;
        let mut queued = Vec::new();
        for (k, g) in run.faults.iter().enumerate() {
            let linked = k >= 1 && k < pages && served_so_far && start.full;
            let g = if g.needs_linked_page() && !(linked && run.churn.is_empty()) {
                Glitch::Pass
            } else {
                *g
            };
            served_so_far &= g == Glitch::Pass;
            self.app.api.push_fault(g.fault());
            queued.push(g);
        }
        queued
    }

    fn schedule_churn(&mut self, churn: &[(u8, Churn)]) -> Vec<(i64, Mutation)> {
        let mut scheduled = Vec::new();
        for (after, c) in churn {
            let (id, m) = match c {
                Churn::Insert => {
                    let id = self.fresh_id();
                    let put = Mutation::Put {
                        id,
                        business_code: 1,
                        name: format!("Added {id} during a run"),
                        updated_at: now(),
                    };
                    (id, put)
                }
                Churn::Update(sel) | Churn::Delete(sel) => {
                    let Some(id) = self.pick(*sel) else { continue };
                    match c {
                        Churn::Delete(_) => (id, Mutation::Remove(vec![id])),
                        _ => (id, Mutation::Update(vec![id], now())),
                    }
                }
            };
            self.app.api.mutate_after((*after).into(), m.clone());
            scheduled.push((id, m));
        }
        scheduled
    }

    /// Drops the churn no request reached and the unused faults; returns the ids the
    /// applied churn touched, and whether it removed any.
    fn settle_churn(&mut self, scheduled: Vec<(i64, Mutation)>) -> (BTreeSet<i64>, bool) {
        let mut pending = self.app.api.take_pending_mutations();
        self.app.api.clear_faults();
        let mut touched = BTreeSet::new();
        let mut removed = false;
        for (id, m) in scheduled {
            if let Some(i) = pending.iter().position(|p| *p == m) {
                pending.remove(i);
                continue;
            }
            if matches!(m, Mutation::Remove(_)) {
                removed = true;
                self.forget_raw(id);
                self.removed.push(id);
            }
            self.trace.push(format!("  during the run: {m:?}"));
            touched.insert(id);
        }
        (touched, removed)
    }

    async fn finish(
        &mut self,
        start: Start,
        outcome: Outcome,
        allow_mass_delete: bool,
        (touched, rows_shifted): (BTreeSet<i64>, bool),
        must_succeed: bool,
    ) -> Result<(), String> {
        let after = DbState::read(&self.app).await;
        let started_at = self
            .app
            .text("SELECT started_at FROM sync_runs ORDER BY id DESC LIMIT 1")
            .await
            .unwrap_or_default();
        let blind_filter = !start.full && self.filter_was_blind(&start);
        let facts = RunFacts {
            full: start.full,
            outcome,
            started_at,
            allow_mass_delete,
            upstream_before: start.upstream,
            upstream_after: self.app.api.snapshot(),
            rejected: self.rejected.clone(),
            touched,
            rows_shifted,
            must_succeed,
            blind_filter,
            listing_complete: !self.lying_count,
            owed: self.owed.clone(),
        };
        check::check_run(&start.db, &after, &facts)?;
        self.settle_owed(&facts, &after);
        Ok(())
    }

    /// After a successful run: one during which rows shifted may have skipped what it did not
    /// store; one full run with no shift stores everything, so nothing is owed after it.
    fn settle_owed(&mut self, f: &RunFacts, after: &DbState) {
        if f.outcome != Outcome::Success {
            return;
        }
        if f.full && !f.rows_shifted {
            self.owed.clear();
        } else if f.rows_shifted {
            let missing = f.upstream_before.iter().filter(
                |(id, raw)| !matches!(after.rows.get(*id), Some((stored, None)) if stored == *raw),
            );
            self.owed.extend(missing.map(|(id, _)| *id));
        }
    }

    /// An end-date filter that answered with nothing older than the date sent gave the
    /// daemon no sign it was not honoured (the README asks for that sign).
    fn filter_was_blind(&self, start: &Start) -> bool {
        if self.filter != UpdatedAtFilter::EndDate {
            return false;
        }
        let requests = self.app.api.requests();
        let sent = requests
            .get(start.requests)
            .and_then(|r| r.query_value("updated_at").map(str::to_owned));
        let Some(sent) = sent else { return false };
        !start.upstream.values().any(|raw| {
            let v: serde_json::Value = serde_json::from_str(raw).unwrap_or_default();
            let day = v["updated_at"].as_str().and_then(|at| at.get(..10));
            day.is_some_and(|day| day < sent.as_str())
        })
    }

    /// The binary's full run killed mid-run; a listing in one response gets pages of two first.
    async fn kill(&mut self, pages: u8) -> Result<(), String> {
        if matches!(self.paging, Paging::Whole) {
            self.set_paging(Paging::Next(LinkLocation::TopLevel, 2));
        }
        let start = self.begin(true).await;
        for _ in 0..pages {
            self.app.api.push_fault(Fault::Pass);
        }
        self.app.api.push_fault(Fault::Slow {
            delay: Duration::from_secs(30),
        });
        let (outcome, output) =
            super::kill::once_killed_after(&self.app, pages, start.requests).await;
        self.app.api.clear_faults();
        self.trace.push(format!(
            "binary --once --full --allow-mass-delete, SIGKILL after {pages} pages: {outcome:?}"
        ));
        let must_succeed = false;
        self.finish(start, outcome, true, Default::default(), must_succeed)
            .await?;
        check::check_files(&self.app, &[output]).await?;
        if outcome == Outcome::Killed {
            Ok(())
        } else {
            check::check_nothing_left_running(&self.app).await
        }
    }
}
