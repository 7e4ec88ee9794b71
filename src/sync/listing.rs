//! One listing of a scope: fetch a page, write it in one transaction, follow the next link.
//! A run makes one listing, or more (an unfiltered pass after `filter_not_honoured`, listings
//! that confirm deletion candidates); each returns what it saw beyond what it wrote.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use reqwest::Url;
use roaring::RoaringTreemap;
use tracing::{debug, info, warn};

use super::ahead::Ahead;
use super::pace::Pace;
use super::run::Run;
use super::{events, Events};
use crate::api::{ApiError, Content, Groups, Page, Reached, RetryNotice};
use crate::domain::now_utc;
use crate::outcome::SyncError;
use crate::store::{LogEvent, PageWrite};

/// What one listing showed, beyond the rows it wrote.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// Every id the API sent (stored or rejected): the evidence of a full run, and how a
    /// group repeated on a later page of the same listing is recognised.
    pub seen: RoaringTreemap,
    /// Records received, rejected and duplicates included.
    pub received: u64,
    /// Counts announced by the pages' messages ("Groups found: N").
    pub announced: Vec<u64>,
    /// Records whose `updated_at` is before the filter date sent.
    pub older_than_filter: u64,
}

impl Listing {
    /// `(announced, received)` when the API announced a count that matches neither this
    /// listing's total nor any page's (an API may count either way).
    pub(super) fn count_mismatch(&self) -> Option<(u64, u64)> {
        let largest = self.announced.iter().copied().max()?;
        let total: u64 = self.announced.iter().sum();
        (self.received != largest && self.received != total).then_some((largest, self.received))
    }
}

impl Run<'_> {
    /// Every page of one listing, in order. While a page is written, the pages after it are
    /// already being fetched (see `ahead`), so the network and SQLite work at the same time.
    /// Failures keep the sequential order: a page that arrived is written before the failure
    /// of its link or of the request after it is returned, and a failed write abandons the
    /// requests in flight. Stops with an error on a repeated page URL or past `max_pages`.
    /// Returns once every page it wrote has committed.
    pub(super) async fn list(&mut self, filter: Option<NaiveDate>) -> Result<Listing, SyncError> {
        let syncer = self.syncer;
        let max_pages = u64::from(syncer.options.max_pages);
        let mut listing = Listing::default();
        let mut visited: HashSet<String> = HashSet::new();
        let client = syncer.client.get();
        let first = client.first_page(&self.scope, filter);
        let mut ahead = Ahead::new(Arc::clone(&client));
        ahead.push(self.admit(&mut visited, first, 0)?, Reached::First);
        let mut fetched_pages: u64 = 0;
        let mut pace = Pace::default();
        let mut waiting = Instant::now();
        while let Some(fetched) = ahead.take().await {
            let wait = waiting.elapsed();
            self.current_url = Some(fetched.url.clone());
            self.take_retries(fetched.retries, &fetched.result).await;
            let page = fetched.result?;
            fetched_pages += 1;
            let next = match client.next_page(&page.url, &page.body.next) {
                Ok(Some(url)) => self.admit(&mut visited, url, fetched_pages).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(e.into()),
            };
            match &next {
                Ok(Some(url)) => {
                    let budget = max_pages.saturating_sub(fetched_pages);
                    ahead.follow(url, &page, self.width, budget);
                    self.current_url = Some(url.clone());
                }
                _ => ahead.clear(),
            }
            let writing = Instant::now();
            if let Err(e) = ahead
                .alongside(self.write(&page, filter, &mut listing))
                .await
            {
                self.current_url = Some(page.url.clone());
                return Err(e);
            }
            if ahead.one_at_a_time() {
                pace.note(wait, writing.elapsed());
                self.keep_pace(&pace).await?;
            }
            waiting = Instant::now();
            if next?.is_none() {
                break;
            }
        }
        // The last page's commit may still be running (see `Store::pages_committed`).
        self.syncer.store.pages_committed(self.run_id).await?;
        Ok(listing)
    }

    /// Builds the indexes a first load dropped as soon as the network, not the database, is
    /// seen to set the pace (see `pace`); the next request is already in flight meanwhile.
    async fn keep_pace(&mut self, pace: &Pace) -> Result<(), SyncError> {
        if self.indexes_suspended && pace.network_bound() {
            info!(
                "pages wait on the network longer than they take to write: building the \
                 secondary indexes now and keeping them up to date"
            );
            self.syncer.store.restore_indexes().await?;
            self.indexes_suspended = false;
        }
        Ok(())
    }

    /// Logs a request's retries; after a 429 the rest of the run asks one page at a time.
    async fn take_retries(&mut self, retries: Vec<RetryNotice>, result: &Result<Page, ApiError>) {
        let limited = retries
            .iter()
            .map(|r| &r.error)
            .chain(result.as_ref().err());
        if self.width > 1 && limited.into_iter().any(|e| e.http_status() == Some(429)) {
            self.width = 1;
            warn!(
                "the API answered 429 Too Many Requests: fetching one page at a time for the \
                 rest of this run"
            );
        }
        self.retries.extend(retries);
        self.flush_retries().await;
    }

    /// `url` if this listing may fetch it as page `fetched + 1`.
    fn admit(
        &self,
        visited: &mut HashSet<String>,
        url: Url,
        fetched: u64,
    ) -> Result<Url, SyncError> {
        if !visited.insert(url.to_string()) {
            return Err(ApiError::Pagination(format!(
                "page {url} was already fetched in this listing"
            ))
            .into());
        }
        if fetched >= u64::from(self.syncer.options.max_pages) {
            let max = self.syncer.options.max_pages;
            return Err(ApiError::Pagination(format!("more than max_pages ({max}) pages")).into());
        }
        Ok(url)
    }

    /// Writes one page in one transaction and counts it.
    async fn write(
        &mut self,
        page: &Page,
        filter: Option<NaiveDate>,
        listing: &mut Listing,
    ) -> Result<(), SyncError> {
        let empty = Groups::default();
        let groups = match &page.body.content {
            Content::Groups(groups) => groups,
            _ => &empty,
        };
        let repeats: HashSet<i64> = groups
            .records
            .iter()
            .map(|r| r.id)
            .filter(|id| u64::try_from(*id).is_ok_and(|id| listing.seen.contains(id)))
            .collect();
        let (page_events, record_events) = page_events(groups, &repeats);
        for event in page_events
            .iter()
            .chain(record_events.iter().map(|(_, e)| e))
        {
            self.record_warnings.note(event);
        }
        let page_write = PageWrite {
            run_id: self.run_id,
            scope: self.scope,
            records: &groups.records,
            received: groups.received,
            rejected: groups.rejected.len(),
            events: &page_events,
            record_events: &record_events,
            repeats: &repeats,
            history: self.syncer.options.history,
            now: now_utc(),
            fresh: self.fresh,
        };
        let counts = self.syncer.store.write_page(&page_write).await?;
        debug!(
            url = %page.url,
            records = groups.records.len(),
            inserted = counts.inserted,
            updated = counts.updated,
            unchanged = counts.unchanged,
            restored = counts.restored,
            "page written"
        );
        self.tally.add_page(groups, &counts);
        self.report_progress(&page.body);
        if let Some(n) = page.body.announced_count() {
            listing.announced.push(n);
        }
        self.note_records(groups, filter, listing);
        Ok(())
    }

    /// What the page's records tell beyond their rows: the watermark candidate, the filter's
    /// honesty, and (when collecting) which groups the API still has.
    fn note_records(&mut self, groups: &Groups, filter: Option<NaiveDate>, listing: &mut Listing) {
        listing.received += groups.received as u64;
        let since = filter.and_then(|d| d.and_hms_opt(0, 0, 0));
        for r in &groups.records {
            self.tally.newest_updated_at = self.tally.newest_updated_at.max(r.updated_at);
            if let (Some(since), Some(at)) = (since, r.updated_at) {
                if at < since {
                    listing.older_than_filter += 1;
                }
            }
        }
        let ids = groups.records.iter().map(|r| r.id);
        let rejected = groups.rejected.iter().filter_map(|r| r.id);
        for id in ids.chain(rejected) {
            if let Ok(id) = u64::try_from(id) {
                listing.seen.insert(id);
            }
        }
    }
}

/// The warnings of one response: those written with the page (rejected records, ids that
/// appeared twice in the response or on an earlier page), and those about one record
/// (`bad_timestamp`), written only if that record is.
fn page_events(groups: &Groups, repeats: &HashSet<i64>) -> (Events, Vec<(i64, LogEvent)>) {
    let mut page: Events = groups.rejected.iter().map(events::rejected).collect();
    let mut repeated: Vec<i64> = groups.duplicate_ids.clone();
    repeated.extend(repeats.iter().copied());
    repeated.sort_unstable();
    repeated.dedup();
    page.extend(repeated.into_iter().map(events::duplicate_id));
    let per_record = groups
        .records
        .iter()
        .flat_map(|r| {
            r.bad_timestamps
                .iter()
                .map(|b| (r.id, events::bad_timestamp(r.id, b)))
        })
        .collect();
    (page, per_record)
}
