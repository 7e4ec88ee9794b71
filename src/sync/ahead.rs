//! Pages fetched ahead of the writer, so that a sync does not wait one round trip per page.
//!
//! A link-paginated API names only the next page, so one request runs while a page is
//! written. A page-numbered API (`current_page`/`last_page`) lets the pages after it be asked
//! for before they are named: up to `width` requests run at once. Nothing about what is
//! written changes: pages are taken strictly in order, and each must be the very page its
//! predecessor names — a queue that does not start with it (the listing shrank, the API
//! switched to links) is dropped and the named page fetched instead. A request dropped that
//! way was only a read.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use futures_util::future::{select, Either};
use futures_util::stream::{FuturesOrdered, StreamExt};
use reqwest::Url;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument as _;

use crate::api::{ApiClient, ApiError, NextLink, Page, Reached, RetryNotice};

/// One finished request: its page or failure, and the retries it made on the way.
pub(super) struct Fetched {
    pub url: Url,
    pub result: Result<Page, ApiError>,
    pub retries: Vec<RetryNotice>,
}

/// A request running as its own task, so that receiving, decompressing and parsing a page
/// happen on another thread than the one that feeds the writer; dropped, it is cancelled.
type Fetch = AbortOnDropHandle<Fetched>;

/// The link a request's body named, sent before its records are parsed, with the number of
/// the request that found it.
type Hint = (u64, Url);

/// The requests of one listing that run ahead of the page being written.
pub(super) struct Ahead {
    client: Arc<ApiClient>,
    /// URLs of the requests made and not yet taken, in page order.
    queue: VecDeque<Url>,
    /// The same requests still running (finishing in any order, yielded in order)...
    running: FuturesOrdered<Fetch>,
    /// ...and those finished while a page was written, which come first.
    finished: VecDeque<Fetched>,
    /// The page number at the back of the queue when the API numbers its pages.
    last_number: Option<u64>,
    /// For a page-numbered listing: a page's URL to number the next from, and the last page.
    numbered: Option<(Url, u64)>,
    /// Requests made so far; the number of the one at the back of the queue.
    pushed: u64,
    hints: mpsc::UnboundedReceiver<Hint>,
    hint_sender: mpsc::UnboundedSender<Hint>,
    /// As set by the last `follow`: requests allowed at once, and pages `max_pages` still
    /// allows from the front of the queue on.
    width: usize,
    budget: u64,
    /// Every URL asked for in this listing: a link back to one of them (a loop, which the
    /// listing then refuses) is never asked for again on a hint.
    requested: HashSet<Url>,
}

impl Ahead {
    pub(super) fn new(client: Arc<ApiClient>) -> Ahead {
        let (hint_sender, hints) = mpsc::unbounded_channel();
        Ahead {
            client,
            queue: VecDeque::new(),
            running: FuturesOrdered::new(),
            finished: VecDeque::new(),
            last_number: None,
            numbered: None,
            pushed: 0,
            hints,
            hint_sender,
            width: 1,
            budget: 1,
            requested: HashSet::new(),
        }
    }

    /// Starts the request for `url` behind those already made.
    pub(super) fn push(&mut self, url: Url, reached: Reached) {
        let client = Arc::clone(&self.client);
        self.pushed += 1;
        let (number, sender) = (self.pushed, self.hint_sender.clone());
        // A link ahead of the queue's back is only of use while nothing follows it.
        let hint = move |next: Url| {
            let _ = sender.send((number, next));
        };
        self.requested.insert(url.clone());
        self.queue.push_back(url.clone());
        let task = tokio::spawn(
            async move {
                let mut retries = Vec::new();
                let result = client
                    .fetch_page_hinting(&url, reached, &mut retries, Some(hint))
                    .await;
                Fetched {
                    url,
                    result,
                    retries,
                }
            }
            .in_current_span(),
        );
        self.running.push_back(AbortOnDropHandle::new(task));
    }

    /// The next page in order, once its request has finished; `None` when none was made.
    pub(super) async fn take(&mut self) -> Option<Fetched> {
        if self.queue.is_empty() {
            return None;
        }
        while self.finished.is_empty() {
            self.progress().await;
        }
        self.queue.pop_front();
        self.finished.pop_front()
    }

    /// Makes `next` (the page `page` names) the head of the queue, then, for a page-numbered
    /// listing, asks for the pages after it while there is room (see `has_room`) and `budget`
    /// pages (what `max_pages` still allows) are not reached.
    pub(super) fn follow(&mut self, next: &Url, page: &Page, width: usize, budget: u64) {
        (self.width, self.budget) = (width, budget);
        if self.queue.front() != Some(next) {
            self.clear();
            self.push(next.clone(), Reached::Link);
            self.last_number = match page.body.next {
                NextLink::Page(n) => Some(n),
                _ => None,
            };
        }
        self.numbered = self
            .last_number
            .and(page.body.last_page)
            .map(|last| (page.url.clone(), last));
        self.ask_numbered();
    }

    /// Asks for the numbered pages after the queue's back while there is room.
    fn ask_numbered(&mut self) {
        let (Some(mut number), Some((base, last))) = (self.last_number, self.numbered.clone())
        else {
            return;
        };
        while self.has_room() && number < last {
            number += 1;
            match self.client.next_page(&base, &NextLink::Page(number)) {
                Ok(Some(url)) => self.push(url, Reached::Link),
                _ => break,
            }
            self.last_number = Some(number);
        }
    }

    /// Whether pages come one request at a time (links, or one request after a 429): only
    /// then does the wait for a page measure the network's latency (see `pace`).
    pub(super) fn one_at_a_time(&self) -> bool {
        self.last_number.is_none() || self.width <= 1
    }

    /// Room for another request: fewer than `width` running, and fewer than twice `width`
    /// pages held, so that a request's slot frees when its answer arrives, not when the
    /// writer takes its page, while memory stays bounded by a few pages.
    fn has_room(&self) -> bool {
        let running = self.queue.len().saturating_sub(self.finished.len());
        running < self.width
            && self.queue.len() < 2 * self.width
            && (self.queue.len() as u64) < self.budget
    }

    /// Drops every request not taken.
    pub(super) fn clear(&mut self) {
        self.queue.clear();
        self.running = FuturesOrdered::new();
        self.finished.clear();
        self.last_number = None;
        self.numbered = None;
    }

    /// Runs `work` (a page's write) while the requests ahead make progress.
    pub(super) async fn alongside<T>(&mut self, work: impl Future<Output = T>) -> T {
        let mut work = pin!(work);
        loop {
            if self.running.is_empty() {
                return work.await;
            }
            match select(work.as_mut(), pin!(self.progress())).await {
                Either::Left((done, _)) => return done,
                Either::Right(((), _)) => {}
            }
        }
    }

    /// Waits for a request to finish or for a link one of them found, and acts on it. Only
    /// called while a request is running.
    async fn progress(&mut self) {
        // A request sends its link before it finishes: hints first, so one is acted on
        // before its request is taken.
        tokio::select! {
            biased;
            Some((number, next)) = self.hints.recv() => self.hinted(number, next),
            joined = self.running.next() => {
                let url = self.queue[self.finished.len()].clone();
                self.finished.push_back(finished(joined, url));
                self.ask_numbered();
            }
        }
    }

    /// A linked listing's next page asked for as soon as the request at the back of the
    /// queue found its link: `follow` later checks that it is the page named.
    fn hinted(&mut self, number: u64, next: Url) {
        let fresh = !self.requested.contains(&next);
        if fresh && number == self.pushed && self.last_number.is_none() && self.has_room() {
            self.push(next, Reached::Link);
        }
    }
}

/// What a request's task ended with; a task that panicked is reported as a failed request
/// rather than taking the run down.
fn finished(joined: Option<Result<Fetched, tokio::task::JoinError>>, url: Url) -> Fetched {
    match joined {
        Some(Ok(fetched)) => fetched,
        Some(Err(e)) => Fetched {
            url,
            result: Err(ApiError::Network(format!(
                "the request stopped unexpectedly: {e}"
            ))),
            retries: Vec::new(),
        },
        None => Fetched {
            url,
            result: Err(ApiError::Network("the request was never sent".into())),
            retries: Vec::new(),
        },
    }
}
