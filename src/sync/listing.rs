//! One listing of a scope: fetch a page, write it in one transaction, follow the next link.
//! A run makes one listing, or more (an unfiltered pass after `filter_not_honoured`, listings
//! that confirm deletion candidates); each returns what it saw beyond what it wrote.

use std::collections::HashSet;
use std::pin::pin;

use chrono::NaiveDate;
use futures_util::future::{select, Either};
use reqwest::Url;
use roaring::RoaringTreemap;
use tracing::{debug, warn};

use super::run::Run;
use super::{events, Events};
use crate::api::{ApiError, Content, Groups, Page, Reached};
use crate::domain::now_utc;
use crate::outcome::SyncError;
use crate::store::PageWrite;

/// What one listing showed, beyond the rows it wrote.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// Every id the API sent (stored or rejected), when the listing collects them.
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
    pub fn count_mismatch(&self) -> Option<(u64, u64)> {
        let largest = self.announced.iter().copied().max()?;
        let total: u64 = self.announced.iter().sum();
        (self.received != largest && self.received != total).then_some((largest, self.received))
    }
}

/// What a listing asks for.
#[derive(Clone, Copy, Debug)]
pub(super) struct ListingAsk {
    pub filter: Option<NaiveDate>,
    pub collect_ids: bool,
}

impl Run<'_> {
    /// Every page of one listing, in order. While a page is written, the next one (named by
    /// that page) is already being fetched, so the network and SQLite work at the same time.
    /// Failures keep the sequential order: a page that arrived is written before the failure
    /// of its link or of the request after it is returned, and a failed write abandons the
    /// request in flight. Stops with an error on a repeated page URL or past `max_pages`.
    pub(super) async fn list(&mut self, ask: ListingAsk) -> Result<Listing, SyncError> {
        let client = &self.syncer.client;
        let mut listing = Listing::default();
        let mut visited: HashSet<String> = HashSet::new();
        let first = client.first_page(&self.scope, ask.filter);
        let first = self.admit(&mut visited, first, 0)?;
        self.current_url = Some(first.clone());
        let fetched = client
            .fetch_page(&first, Reached::First, &mut self.retries)
            .await;
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
            let fetched = match self.write_fetching(&page, ahead, ask, &mut listing).await {
                Ok(fetched) => fetched,
                Err(e) => {
                    self.current_url = Some(page.url.clone());
                    return Err(e);
                }
            };
            self.flush_retries().await;
            let (Some(_), Some(fetched)) = (next?, fetched) else {
                return Ok(listing);
            };
            page = fetched?;
            fetched_pages += 1;
        }
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

    /// Writes one page in one transaction and counts it, while fetching `ahead` (if any).
    /// `Err` is the write's failure, which drops the fetch; the fetch's own result is returned
    /// once the page is written.
    async fn write_fetching(
        &mut self,
        page: &Page,
        ahead: Option<&Url>,
        ask: ListingAsk,
        listing: &mut Listing,
    ) -> Result<Option<Result<Page, ApiError>>, SyncError> {
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
                    Some(url) => Some(syncer.client.fetch_page(url, Reached::Link, retries).await),
                    None => None,
                }
            });
            match select(write, fetch).await {
                Either::Left((written, fetch)) => (written?, fetch.await),
                Either::Right((fetched, write)) => (write.await?, fetched),
            }
        };
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
        if let Some(n) = page.body.announced_count() {
            listing.announced.push(n);
        }
        self.note_records(groups, ask, listing);
        Ok(fetched)
    }

    /// What the page's records tell beyond their rows: the watermark candidate, the filter's
    /// honesty, and (when collecting) which groups the API still has.
    fn note_records(&mut self, groups: &Groups, ask: ListingAsk, listing: &mut Listing) {
        listing.received += groups.received as u64;
        let since = ask.filter.and_then(|d| d.and_hms_opt(0, 0, 0));
        for r in &groups.records {
            self.tally.newest_updated_at = self.tally.newest_updated_at.max(r.updated_at);
            if let (Some(since), Some(at)) = (since, r.updated_at) {
                if at < since {
                    listing.older_than_filter += 1;
                }
            }
        }
        if ask.collect_ids {
            let ids = groups.records.iter().map(|r| r.id);
            let rejected = groups.rejected.iter().filter_map(|r| r.id);
            for id in ids.chain(rejected) {
                if let Ok(id) = u64::try_from(id) {
                    listing.seen.insert(id);
                }
            }
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
