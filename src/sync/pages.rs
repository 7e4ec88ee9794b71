//! The page loop of one run: fetch, write in one transaction, follow the next link; then,
//! after the last page, the checks and the deletions that need the whole run.

use std::collections::HashSet;
use std::pin::pin;

use chrono::{NaiveDate, NaiveDateTime};
use futures_util::future::{select, Either};
use reqwest::Url;
use serde_json::json;
use tracing::{debug, error, warn};

use super::{events, Events, SyncRequest, Syncer};
use crate::api::{ApiError, Content, GroupRecord, Groups, Page, RetryNotice};
use crate::domain::{now_utc, Mode, Scope};
use crate::outcome::SyncError;
use crate::store::{Deletion, Level, LogEvent, PageWrite, RunStart, SeenIds};

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

pub(super) struct Run<'s> {
    syncer: &'s Syncer,
    run_id: i64,
    scope: Scope,
    mode: Mode,
    request: SyncRequest,
    filter_date: Option<NaiveDate>,
    pub tally: RunTally,
    /// Every id a full run received, for the deletion reconciliation.
    seen_ids: SeenIds,
    pub retries: Vec<RetryNotice>,
    announced: Vec<u64>,
    older_than_filter: u64,
    /// The request in flight or last made: where a failure happened.
    pub current_url: Option<Url>,
    /// Set when a full run's deletions were reconciled (not held back by the guard).
    pub verified_in_full: bool,
}

impl<'s> Run<'s> {
    pub fn new(syncer: &'s Syncer, run_id: i64, start: &RunStart, request: SyncRequest) -> Run<'s> {
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
            seen_ids: SeenIds::new(),
            retries: Vec::new(),
            announced: Vec::new(),
            older_than_filter: 0,
            current_url: None,
            verified_in_full: false,
        }
    }

    /// Every page, in order. While a page is written, the next one (named by that page) is
    /// already being fetched, so the network and SQLite work at the same time. Failures keep
    /// the sequential order: a page that arrived is written before the failure of its link or
    /// of the request after it is returned, and a failed write abandons the request in
    /// flight. Stops with an error on a repeated page URL or past `max_pages`.
    pub async fn fetch_and_write(&mut self) -> Result<(), SyncError> {
        let client = &self.syncer.client;
        let mut visited: HashSet<String> = HashSet::new();
        let first = client.first_page(&self.scope, self.filter_date);
        let first = self.admit(&mut visited, first, 0)?;
        self.current_url = Some(first.clone());
        let fetched = client.fetch_page(&first, &mut self.retries).await;
        self.flush_retries().await;
        let mut page = fetched?;
        let mut fetched_pages: u64 = 1;
        loop {
            let next = match client.next_page(&page.url, &page.body.next) {
                Ok(Some(url)) => self.admit(&mut visited, url, fetched_pages).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(e.into()),
            };
            let ahead = next.as_ref().ok().and_then(Option::as_ref);
            if let Some(url) = ahead {
                self.current_url = Some(url.clone());
            }
            let fetched = match self.write_fetching(&page, ahead).await {
                Ok(fetched) => fetched,
                Err(e) => {
                    self.current_url = Some(page.url.clone());
                    return Err(e);
                }
            };
            self.flush_retries().await;
            let (Some(_), Some(fetched)) = (next?, fetched) else {
                return Ok(());
            };
            page = fetched?;
            fetched_pages += 1;
        }
    }

    /// `url` if this run may fetch it as page `fetched + 1`.
    fn admit(
        &self,
        visited: &mut HashSet<String>,
        url: Url,
        fetched: u64,
    ) -> Result<Url, SyncError> {
        if !visited.insert(url.to_string()) {
            return Err(ApiError::Pagination(format!(
                "page {url} was already fetched in this run"
            ))
            .into());
        }
        if fetched >= u64::from(self.syncer.options.max_pages) {
            let max = self.syncer.options.max_pages;
            return Err(ApiError::Pagination(format!("more than max_pages ({max}) pages")).into());
        }
        Ok(url)
    }

    /// Writes one page in one transaction and counts it, while fetching `ahead` (if any).
    /// `Err` is the write's failure, which drops the fetch; the fetch's own result is returned
    /// once the page is written.
    async fn write_fetching(
        &mut self,
        page: &Page,
        ahead: Option<&Url>,
    ) -> Result<Option<Result<Page, ApiError>>, SyncError> {
        if let Some(n) = page.body.announced_count() {
            self.announced.push(n);
        }
        let empty = Groups::default();
        let groups = match &page.body.content {
            Content::Groups(groups) => groups,
            _ => &empty,
        };
        let page_events = page_events(groups);
        let syncer = self.syncer;
        let page_write = PageWrite {
            run_id: self.run_id,
            scope: self.scope,
            records: &groups.records,
            received: groups.received,
            rejected: groups.rejected.len(),
            events: &page_events,
            history: syncer.options.history,
            now: now_utc(),
        };
        let (counts, fetched) = {
            let write = pin!(syncer.store.write_page(&page_write));
            let retries = &mut self.retries;
            let fetch = pin!(async move {
                match ahead {
                    Some(url) => Some(syncer.client.fetch_page(url, retries).await),
                    None => None,
                }
            });
            match select(write, fetch).await {
                Either::Left((written, fetch)) => (written?, fetch.await),
                Either::Right((fetched, write)) => (write.await?, fetched),
            }
        };
        debug!(url = %page.url, records = groups.records.len(), ?counts, "page written");
        let t = &mut self.tally;
        t.pages += 1;
        t.received += groups.received as u64;
        t.rejected += groups.rejected.len() as u64;
        t.inserted += counts.inserted;
        t.updated += counts.updated;
        t.unchanged += counts.unchanged;
        t.restored += counts.restored;
        self.note_records(&groups.records);
        Ok(fetched)
    }

    fn note_records(&mut self, records: &[GroupRecord]) {
        let since = self.filter_date.and_then(|d| d.and_hms_opt(0, 0, 0));
        for r in records {
            self.tally.newest_updated_at = self.tally.newest_updated_at.max(r.updated_at);
            if let (Some(since), Some(at)) = (since, r.updated_at) {
                if at < since {
                    self.older_than_filter += 1;
                }
            }
            if self.mode == Mode::Full {
                self.seen_ids.insert(r.id);
            }
        }
    }

    /// After the last page: the sanity checks, then (full runs) the deletions.
    pub async fn finish_pages(&mut self) -> Result<(), SyncError> {
        let mut warnings = self.sanity_warnings();
        if self.mode == Mode::Full {
            if let Some(guarded) = self.reconcile().await? {
                warnings.push(guarded);
            }
        }
        for w in &warnings {
            warn!(event = w.event, "{}", w.message);
        }
        self.syncer
            .store
            .log_events(Some(self.run_id), now_utc(), &warnings)
            .await?;
        Ok(())
    }

    fn sanity_warnings(&self) -> Events {
        let mut out = Events::new();
        if self.older_than_filter > 0 {
            let date = self.filter_date.map(|d| d.to_string()).unwrap_or_default();
            let message = format!(
                "{} records have updated_at before the updated_at={date} filter sent: the API \
                 is not filtering as expected; scheduled full runs keep the data right",
                self.older_than_filter
            );
            out.push(
                LogEvent::new(Level::Warn, "filter_not_honoured", message)
                    .with_detail(json!({ "count": self.older_than_filter, "updated_at": date })),
            );
        }
        let received = self.tally.received;
        let total: u64 = self.announced.iter().sum();
        let largest = self.announced.iter().copied().max();
        if let Some(largest) = largest {
            if received != largest && received != total {
                let message =
                    format!("the API announced {largest} groups but the run received {received}");
                out.push(
                    LogEvent::new(Level::Warn, "count_mismatch", message)
                        .with_detail(json!({ "announced": largest, "received": received })),
                );
            }
        }
        out
    }

    /// Marks what a complete full run did not see, within the mass-deletion guard.
    async fn reconcile(&mut self) -> Result<Option<LogEvent>, SyncError> {
        let options = &self.syncer.options;
        let guard = (!self.request.allow_mass_delete).then_some(options.delete_guard_fraction);
        let outcome = self
            .syncer
            .store
            .reconcile_deletions(
                self.run_id,
                self.scope,
                &mut self.seen_ids,
                guard,
                options.history,
                now_utc(),
            )
            .await?;
        match outcome {
            Deletion::Marked(n) => {
                self.tally.deleted = n;
                self.verified_in_full = true;
                Ok(None)
            }
            Deletion::Guarded { missing, live } => {
                let message = format!(
                    "the full run did not see {missing} of {live} live groups, more than \
                     delete_guard_fraction ({}); none were marked deleted (--allow-mass-delete \
                     lifts the guard for one run)",
                    options.delete_guard_fraction
                );
                Ok(Some(
                    LogEvent::new(Level::Warn, "deletion_guard", message).with_detail(json!({
                        "missing": missing,
                        "live": live,
                        "delete_guard_fraction": options.delete_guard_fraction,
                    })),
                ))
            }
        }
    }

    /// Logs the retries made so far; a logging failure must not hide the sync's own result.
    pub async fn flush_retries(&mut self) {
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
            error!(error = %e, "could not log retries");
        }
    }
}

/// The per-record warnings of one response, written in the page's transaction.
fn page_events(groups: &Groups) -> Events {
    let mut out: Events = groups.rejected.iter().map(events::rejected).collect();
    for r in &groups.records {
        out.extend(
            r.bad_timestamps
                .iter()
                .map(|b| events::bad_timestamp(r.id, b)),
        );
    }
    out.extend(
        groups
            .duplicate_ids
            .iter()
            .map(|id| events::duplicate_id(*id)),
    );
    for e in &out {
        warn!(event = e.event, "{}", e.message);
    }
    out
}
