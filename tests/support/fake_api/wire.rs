//! What the fake puts on the wire beyond the data: a per-request latency, the answers it
//! keeps, and counts of the bytes sent.
//!
//! Data answers are kept by request (URI and whether gzip was asked for) until anything
//! changes the fake's state: the benchmark's fake shares two cores with the sync it measures,
//! and a real server renders and compresses on its own machine, so a page asked for again
//! costs the fake neither.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::lock;

/// Answer bytes kept at most; past it the fake starts again with none.
const KEPT_BYTES: usize = 96 << 20;

#[derive(Default)]
pub(super) struct Wire {
    /// API requests being answered now.
    answering: Arc<AtomicUsize>,
    latency_us: AtomicU64,
    /// Seconds the fake's `Date` header is off from the real time (0: left to the server).
    clock_skew_secs: std::sync::atomic::AtomicI64,
    sent: AtomicU64,
    decoded: AtomicU64,
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    /// The generation every kept answer belongs to.
    generation: u64,
    answers: HashMap<AnswerKey, Arc<Answer>>,
    bytes: usize,
}

/// What a data answer depends on besides the request's path and query.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct AnswerKey {
    /// The state's generation it was rendered from.
    pub(super) generation: u64,
    pub(super) uri: String,
    pub(super) gzip: bool,
}

/// A data answer's body as sent.
pub(super) struct Answer {
    pub(super) bytes: Vec<u8>,
    /// Its length once decoded.
    pub(super) decoded: usize,
    pub(super) gzip: bool,
}

/// Bytes of response bodies served by the data handler so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WireBytes {
    /// As sent: compressed when the client asked for it.
    pub(crate) sent: u64,
    /// As the client reads them after decoding.
    pub(crate) decoded: u64,
}

/// Counts a request as being answered until dropped (also when the client goes away).
pub(super) struct Answering(Arc<AtomicUsize>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Wire {
    pub(super) fn set_clock_skew(&self, secs: i64) {
        self.clock_skew_secs.store(secs, Ordering::Relaxed);
    }

    /// The `Date` a fake whose clock is off would send, if it is.
    pub(super) fn skewed_date(&self) -> Option<String> {
        let secs = self.clock_skew_secs.load(Ordering::Relaxed);
        let now = std::time::SystemTime::now();
        let shifted = match secs {
            0 => return None,
            s if s > 0 => now + Duration::from_secs(s.unsigned_abs()),
            s => now - Duration::from_secs(s.unsigned_abs()),
        };
        Some(httpdate::fmt_http_date(shifted))
    }

    pub(super) fn answering(&self) -> Answering {
        self.answering.fetch_add(1, Ordering::Relaxed);
        Answering(self.answering.clone())
    }

    pub(super) fn in_flight(&self) -> usize {
        self.answering.load(Ordering::Relaxed)
    }

    pub(super) fn set_latency(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.store(us, Ordering::Relaxed);
    }

    /// When the answer to a request arriving now may leave: the configured latency later, as
    /// over a real network with the server's own work inside that time (the fake's rendering
    /// and compressing overlap the wait rather than add to it).
    pub(super) fn answer_at(&self) -> tokio::time::Instant {
        let us = self.latency_us.load(Ordering::Relaxed);
        tokio::time::Instant::now() + Duration::from_micros(us)
    }

    pub(super) fn bytes(&self) -> WireBytes {
        WireBytes {
            sent: self.sent.load(Ordering::Relaxed),
            decoded: self.decoded.load(Ordering::Relaxed),
        }
    }

    /// The answer kept for `key`, if any.
    pub(super) fn kept(&self, key: &AnswerKey) -> Option<Arc<Answer>> {
        lock(&self.kept).answers.get(key).cloned()
    }

    /// Keeps `answer` for `key` (dropping older generations and, past the cap, everything).
    pub(super) fn keep(&self, key: AnswerKey, answer: Answer) -> Arc<Answer> {
        let answer = Arc::new(answer);
        let mut kept = lock(&self.kept);
        if kept.generation != key.generation || kept.bytes + answer.bytes.len() > KEPT_BYTES {
            kept.answers.clear();
            kept.bytes = 0;
            kept.generation = key.generation;
        }
        kept.bytes += answer.bytes.len();
        kept.answers.insert(key, answer.clone());
        answer
    }

    /// Counts an answer as sent.
    pub(super) fn count(&self, answer: &Answer) {
        self.sent
            .fetch_add(answer.bytes.len() as u64, Ordering::Relaxed);
        self.decoded
            .fetch_add(answer.decoded as u64, Ordering::Relaxed);
    }
}
