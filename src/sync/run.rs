//! One run of one scope, from its first request to its verdict: the listings it makes, the
//! checks on what the API did, and (full runs) the deletion rules. The run returns what
//! happened as a value; recording it is the caller's job.

use chrono::{NaiveDate, NaiveDateTime};
use reqwest::Url;
use tracing::{info, warn};

use super::listing::Listing;
use super::reconcile::{Decision, Reconciliation};
use super::{events, Events, SyncRequest, Syncer};
use crate::api::{ApiError, Groups, RetryNotice};
use crate::domain::{now_utc, Mode, Scope};
use crate::outcome::SyncError;
use crate::store::{PageCounts, RunStart};

/// Listings of one scope a run makes at most to get one it can trust.
const MAX_LISTINGS: u32 = 3;

/// The counters of a run, as they are also written to its `sync_runs` row.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunTally {
    pub pages: u64,
    pub received: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub deleted: u64,
    pub restored: u64,
    /// The newest `updated_at` committed; the watermark candidate.
    pub newest_updated_at: Option<NaiveDateTime>,
}

impl RunTally {
    pub(super) fn add_page(&mut self, groups: &Groups, counts: &PageCounts) {
        self.pages += 1;
        self.received += groups.received as u64;
        self.rejected += groups.rejected.len() as u64;
        self.inserted += counts.inserted;
        self.updated += counts.updated;
        self.unchanged += counts.unchanged;
        self.restored += counts.restored;
    }
}

/// What a run did, whether it succeeded or not.
#[derive(Debug)]
pub(super) struct RunOutcome {
    pub result: Result<(), SyncError>,
    pub tally: RunTally,
    /// The request in flight or last made: where a failure happened.
    pub url: Option<Url>,
    /// A full run whose deletion rules were applied to the end: the scope was verified.
    pub verified_in_full: bool,
}

pub(super) struct Run<'s> {
    pub(super) syncer: &'s Syncer,
    pub(super) run_id: i64,
    pub(super) scope: Scope,
    mode: Mode,
    request: SyncRequest,
    filter_date: Option<NaiveDate>,
    pub(super) tally: RunTally,
    pub(super) retries: Vec<RetryNotice>,
    pub(super) current_url: Option<Url>,
    /// Requests a listing may have in flight at once: `max_concurrent_requests`, 1 after a
    /// 429.
    pub(super) width: usize,
    /// The listing under way is the first of a scope that held no row (see `PageWrite`).
    pub(super) fresh: bool,
    /// A first load dropped the secondary indexes and has not built them yet (see `pace`).
    pub(super) indexes_suspended: bool,
    verified_in_full: bool,
    /// The journal's share of per-record warnings.
    pub(super) record_warnings: super::quiet::RecordWarnings,
}

impl<'s> Run<'s> {
    pub(super) fn new(
        syncer: &'s Syncer,
        run_id: i64,
        start: &RunStart,
        request: SyncRequest,
    ) -> Run<'s> {
        let filter_date = match start.mode {
            Mode::Full => None,
            Mode::Incremental => start
                .watermark_before
                .map(|w| w.filter_date(syncer.options.lookback_days)),
        };
        Run {
            syncer,
            run_id,
            scope: start.scope,
            mode: start.mode,
            request,
            filter_date,
            tally: RunTally::default(),
            retries: Vec::new(),
            current_url: None,
            width: syncer.options.max_concurrent_requests.max(1) as usize,
            fresh: false,
            indexes_suspended: false,
            verified_in_full: false,
            record_warnings: Default::default(),
        }
    }

    /// The run, to its end. Dropping the future (a signal) abandons it where it is: every
    /// page written so far is whole, and nothing after it happened.
    pub(super) async fn execute(&mut self) -> Result<(), SyncError> {
        // A first load abandoned by a signal left its indexes dropped.
        self.syncer.store.restore_indexes().await?;
        match self.mode {
            Mode::Incremental => self.incremental().await,
            Mode::Full => self.full().await,
        }
    }

    /// Ends the run: logs retries not yet logged and hands back what happened.
    pub(super) async fn finish(mut self, result: Result<(), SyncError>) -> RunOutcome {
        self.flush_retries().await;
        self.record_warnings.summarise();
        RunOutcome {
            result,
            tally: self.tally,
            url: self.current_url,
            verified_in_full: self.verified_in_full,
        }
    }

    /// The filtered listing; if the API did not honour the filter (records older than the
    /// date sent) or sent nothing at all (an API that reads the date as an end date), the
    /// scope is listed again unfiltered, so no change upstream waits for the next full run.
    async fn incremental(&mut self) -> Result<(), SyncError> {
        let filter = self.filter_date;
        let (listing, _) = self.settled_listing(filter).await?;
        let not_honoured = listing.older_than_filter > 0;
        if not_honoured {
            let date = filter.map(|d| d.to_string()).unwrap_or_default();
            let warning = events::filter_not_honoured(listing.older_than_filter, &date);
            self.log(&vec![warning]).await?;
        }
        if not_honoured || listing.received == 0 {
            info!("listing the scope again without the updated_at filter (upserts only)");
            self.settled_listing(None).await?;
        }
        Ok(())
    }

    /// The listing, then the deletion rules: candidates are confirmed by further listings,
    /// and only a complete, settled, guarded set is marked (see `reconcile`). A listing whose
    /// count did not match marks nothing.
    async fn full(&mut self) -> Result<(), SyncError> {
        let store = &self.syncer.store;
        let live_before = store.count_live(self.scope).await?;
        let first_load = live_before == 0 && !store.holds_any(self.scope).await?;
        if first_load {
            store.suspend_indexes().await?;
        }
        self.fresh = first_load;
        self.indexes_suspended = first_load;
        let listed = self.settled_listing(None).await;
        if self.indexes_suspended {
            store.restore_indexes().await?;
            self.indexes_suspended = false;
        }
        let (listing, mismatched) = listed?;
        if mismatched {
            return Ok(());
        }
        // With nothing live before, every live row was written by this run's listing (one
        // run per scope at a time), so none can be missing from it.
        let candidates = if live_before == 0 {
            Default::default()
        } else {
            store.live_ids_missing(self.scope, &listing.seen).await?
        };
        let mut reconciliation = Reconciliation::new(live_before, listing.seen, candidates);
        while reconciliation.wants_listing() {
            let (listing, mismatched) = self.settled_listing(None).await?;
            if mismatched {
                return Ok(());
            }
            reconciliation.add_listing(listing.seen);
        }
        let mut notes = Events::new();
        if !reconciliation.saved().is_empty() {
            notes.push(events::deletion_unconfirmed(reconciliation.saved()));
        }
        let guard =
            (!self.request.allow_mass_delete).then_some(self.syncer.options.delete_guard_fraction);
        match reconciliation.decide(guard) {
            Decision::Mark(ids) => {
                let options = &self.syncer.options;
                let marked = if ids.is_empty() {
                    0
                } else {
                    let now = now_utc();
                    store
                        .mark_deleted(self.run_id, &ids, options.history, now)
                        .await?
                };
                self.tally.deleted = marked;
                self.verified_in_full = true;
            }
            Decision::Guarded {
                confirmed,
                live_before,
                fraction,
            } => notes.push(events::deletion_guard(confirmed, live_before, fraction)),
            Decision::Unsettled { candidates } => {
                notes.push(events::deletion_unsettled(candidates))
            }
        }
        self.log(&notes).await
    }

    /// One listing that holds every group present upstream while it was read, and whether
    /// any listing on the way had a `count_mismatch`.
    ///
    /// A listing whose count matches what arrived is trusted. One that does not may have
    /// skipped rows (offset pagination while groups are deleted upstream), so the scope is
    /// listed again, and a listing that lost nothing the one before it had is trusted: a row
    /// is only skipped when a row already sent is deleted, and that one is then missing from
    /// the next listing. Listings that keep changing fail the run; nothing is lost, the
    /// watermark stays, and the next run tries again.
    async fn settled_listing(
        &mut self,
        filter: Option<NaiveDate>,
    ) -> Result<(Listing, bool), SyncError> {
        let listed = self.list(filter).await;
        self.fresh = false;
        let mut listing = listed?;
        let mut listings = 1;
        let mut mismatched = false;
        while let Some((announced, received)) = listing.count_mismatch() {
            mismatched = true;
            self.log(&vec![events::count_mismatch(announced, received)])
                .await?;
            if listings >= MAX_LISTINGS {
                return Err(ApiError::Pagination(format!(
                    "the listing changed while it was read ({listings} listings in a row \
                     announced another count than they held); the next run tries again"
                ))
                .into());
            }
            let next = self.list(filter).await?;
            listings += 1;
            let quiet = listing.seen.is_subset(&next.seen);
            listing = next;
            if quiet {
                break;
            }
        }
        Ok((listing, mismatched))
    }

    /// Writes the run's own events and shows them in the journal.
    async fn log(&self, notes: &Events) -> Result<(), SyncError> {
        for n in notes {
            match n.level {
                crate::store::Level::Info => info!(event = n.event, "{}", n.message),
                _ => warn!(event = n.event, "{}", n.message),
            }
        }
        self.syncer
            .store
            .log_events(Some(self.run_id), now_utc(), notes)
            .await?;
        Ok(())
    }

    /// Logs the retries made so far; a logging failure must not hide the sync's own result.
    pub(super) async fn flush_retries(&mut self) {
        if self.retries.is_empty() {
            return;
        }
        let logged: Events = self.retries.drain(..).map(|n| events::retry(&n)).collect();
        if let Err(e) = self
            .syncer
            .store
            .log_events(Some(self.run_id), now_utc(), &logged)
            .await
        {
            tracing::error!(error = %e, "could not log retries");
        }
    }
}
