//! Pages fetched ahead of the writer, so that a sync does not wait one round trip per page.
//!
//! A link-paginated API names only the next page, so one request runs while a page is
//! written. A page-numbered API (`current_page`/`last_page`) lets the pages after it be asked
//! for before they are named: up to `width` requests run at once. Nothing about what is
//! written changes: pages are taken strictly in order, and each must be the very page its
//! predecessor names — a queue that does not start with it (the listing shrank, the API
//! switched to links) is dropped and the named page fetched instead. A request dropped that
//! way was only a read.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use futures_util::future::{select, Either};
use futures_util::stream::{FuturesOrdered, StreamExt};
use reqwest::Url;
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
}

impl Ahead {
    pub(super) fn new(client: Arc<ApiClient>) -> Ahead {
        Ahead {
            client,
            queue: VecDeque::new(),
            running: FuturesOrdered::new(),
            finished: VecDeque::new(),
            last_number: None,
        }
    }

    /// Starts the request for `url` behind those already made.
    pub(super) fn push(&mut self, url: Url, reached: Reached) {
        let client = Arc::clone(&self.client);
        self.queue.push_back(url.clone());
        let task = tokio::spawn(
            async move {
                let mut retries = Vec::new();
                let result = client.fetch_page(&url, reached, &mut retries).await;
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
        let url = self.queue.pop_front()?;
        match self.finished.pop_front() {
            Some(fetched) => Some(fetched),
            None => Some(finished(self.running.next().await, url)),
        }
    }

    /// Makes `next` (the page `page` names) the head of the queue, then, for a page-numbered
    /// listing, asks for the pages after it until `width` requests are made or `budget` pages
    /// (what `max_pages` still allows) are reached.
    pub(super) fn follow(&mut self, next: &Url, page: &Page, width: usize, budget: u64) {
        if self.queue.front() != Some(next) {
            self.clear();
            self.push(next.clone(), Reached::Link);
            self.last_number = match page.body.next {
                NextLink::Page(n) => Some(n),
                _ => None,
            };
        }
        let (Some(mut number), Some(last)) = (self.last_number, page.body.last_page) else {
            return;
        };
        while self.queue.len() < width && (self.queue.len() as u64) < budget && number < last {
            number += 1;
            match self.client.next_page(&page.url, &NextLink::Page(number)) {
                Ok(Some(url)) => self.push(url, Reached::Link),
                _ => break,
            }
            self.last_number = Some(number);
        }
    }

    /// Drops every request not taken.
    pub(super) fn clear(&mut self) {
        self.queue.clear();
        self.running = FuturesOrdered::new();
        self.finished.clear();
        self.last_number = None;
    }

    /// Runs `work` (a page's write) while the requests ahead make progress.
    pub(super) async fn alongside<T>(&mut self, work: impl Future<Output = T>) -> T {
        let mut work = pin!(work);
        loop {
            if self.running.is_empty() {
                return work.await;
            }
            match select(work.as_mut(), self.running.next()).await {
                Either::Left((done, _)) => return done,
                Either::Right((Some(joined), _)) => {
                    let url = self.queue[self.finished.len()].clone();
                    self.finished.push_back(finished(Some(joined), url));
                }
                Either::Right((None, _)) => return work.await,
            }
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
