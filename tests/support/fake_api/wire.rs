//! What the fake puts on the wire beyond the data: compression (as a real server does for a
//! client that asks for it), a per-request latency, and counts of the bytes sent.
//!
//! Compressed bodies are kept by the hash of their text: the benchmark's fake shares two
//! cores with the sync it measures, and a real server compresses on its own machine, so a
//! page asked for again costs the fake no compression.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::lock;

/// Compressed bytes kept at most; past it the cache starts again empty.
const CACHE_BYTES: usize = 96 << 20;

#[derive(Default)]
pub(super) struct Wire {
    /// API requests being answered now.
    answering: Arc<AtomicUsize>,
    latency_us: AtomicU64,
    sent: AtomicU64,
    decoded: AtomicU64,
    cache: Mutex<GzipCache>,
}

#[derive(Default)]
struct GzipCache {
    hasher: RandomState,
    bodies: HashMap<(u64, usize), Arc<Vec<u8>>>,
    bytes: usize,
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

    /// Counts a body sent as it is.
    pub(super) fn plain(&self, len: usize) {
        self.sent.fetch_add(len as u64, Ordering::Relaxed);
        self.decoded.fetch_add(len as u64, Ordering::Relaxed);
    }

    /// `body` gzip-compressed (from the cache when the same text was compressed before),
    /// counted.
    pub(super) fn gzip(&self, body: &str, compress: impl FnOnce(&str) -> Vec<u8>) -> Arc<Vec<u8>> {
        let key = {
            let cache = lock(&self.cache);
            (cache.hasher.hash_one(body), body.len())
        };
        let cached = lock(&self.cache).bodies.get(&key).cloned();
        let bytes = cached.unwrap_or_else(|| {
            let bytes = Arc::new(compress(body));
            let mut cache = lock(&self.cache);
            if cache.bytes + bytes.len() > CACHE_BYTES {
                cache.bodies.clear();
                cache.bytes = 0;
            }
            cache.bytes += bytes.len();
            cache.bodies.insert(key, bytes.clone());
            bytes
        });
        self.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.decoded.fetch_add(body.len() as u64, Ordering::Relaxed);
        bytes
    }
}
