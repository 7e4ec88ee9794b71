//! An in-process fake of the xtrakit customer-groups API, served over real HTTP on loopback.
//!
//! Shared by the integration tests, the benchmark and `examples/fake_api.rs`; each includes
//! this file with `#[path]`, so not every includer uses every item.
//!
//! The fake serves `GET /api/v1/customer-groups` in every envelope shape and pagination style
//! the daemon must tolerate (docs/upstream-api.md), can be told to misbehave one request at a time
//! (`push_fault`), and records every API request so tests can check what the daemon sent.
//! Control endpoints under `/_fake/` drive it from outside (see `control.rs`).
#![allow(dead_code)]

mod control;
mod dataset;
mod faults;
mod render;
mod server;
mod timestamps;
mod tls;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio_util::sync::{CancellationToken, DropGuard};

use dataset::Dataset;
// Only the integration tests serve HTTPS; the bench and the example include this file too.
#[allow(unused_imports)]
pub(crate) use tls::TestCa;
pub(crate) use wire::WireBytes;

/// The one path the fake serves as the API.
pub(crate) const API_PATH: &str = "/api/v1/customer-groups";

/// Where the records sit in a success body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `data.groups = [..]`
    Array,
    /// `data.groups = {"0":{..},"1":{..}}`: PHP's encoding of a sparse array; keys are the
    /// records' positions in the whole result, so page 2 does not start at "0".
    ObjectMap,
    /// `data.groups = {..}`: only the page's first record (the documented sample's shape).
    Single,
    /// `data = [..]`
    DataArray,
}

/// How a response says there is more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pagination {
    /// No pagination fields. With `per_page > 0` the fake still serves only one page per
    /// request, which simulates an API that silently truncates.
    None,
    NextUrl {
        location: LinkLocation,
        absolute: bool,
    },
    Numbered {
        location: MetaLocation,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkLocation {
    /// `next_page_url` at the top level.
    TopLevel,
    /// `data.next_page_url` (top level under `Shape::DataArray`, where `data` is an array).
    InData,
    /// `meta.next_page_url`
    InMeta,
    /// `links.next`
    LinksNext,
}

/// Where `current_page`, `last_page`, `per_page` and `total` sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetaLocation {
    TopLevel,
    /// Inside `data` (top level under `Shape::DataArray`).
    InData,
    InMeta,
}

/// What the body's `message` announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MessageCount {
    /// `"Groups found: N"`, N being the total of matching records over all pages.
    Real,
    /// `"Groups found: n"` whatever was served: a lying count.
    Fixed(usize),
    /// No `message` at all.
    Omit,
}

/// One misbehaviour, applied to one API request (after auth).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Serve normally: lets a test fail only a later request.
    Pass,
    Status {
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    /// HTTP 200 whose JSON says `{"status":..,"error":..}`.
    BodyStatus { status: i64, error: String },
    /// HTTP 200 with a body cut in the middle of the JSON.
    InvalidJson,
    /// A `text/html` error page.
    Html { status: u16 },
    /// A 200 whose body stops mid-way: the connection is aborted before `Content-Length`.
    Truncated,
    /// Wait before sending the headers, then serve normally.
    Slow { delay: Duration },
    /// A valid JSON body of exactly `bytes` bytes (mostly padding), sent in chunks.
    Oversized { bytes: usize, content_length: bool },
    /// 302 to `location`.
    Redirect { location: String },
    /// A gzip-encoded 200 whose body decodes to `decoded_bytes` bytes of valid JSON: a
    /// "zip bomb" when that is far more than what goes over the wire.
    GzipBomb { decoded_bytes: usize },
    /// Any literal response.
    Raw {
        status: u16,
        content_type: String,
        body: String,
    },
}

/// How the fake reads the `updated_at` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UpdatedAtFilter {
    /// Records updated on or after the date: what the daemon means.
    Since,
    /// The parameter is ignored: every record comes back.
    Ignore,
    /// Records updated on or before the date: the documentation calls it an "End date".
    EndDate,
}

/// A change upstream, applied by the fake itself once a given number of API requests have
/// been answered: how a test makes the data move while a run pages through the listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mutation {
    Remove(Vec<i64>),
    /// New version and `updated_at` (`YYYY-MM-DD HH:MM:SS`) of these ids.
    Update(Vec<i64>, String),
    Put {
        id: i64,
        business_code: i64,
        name: String,
        updated_at: String,
    },
}

/// One request to the API path, as it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordedRequest {
    pub(crate) path: String,
    /// Decoded query pairs, in order.
    pub(crate) query: Vec<(String, String)>,
    pub(crate) authorization: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) accept_encoding: Option<String>,
    /// API requests being answered when this one arrived, itself included.
    pub(crate) in_flight: usize,
    /// Of those, the ones for the same `business_code` (or the same lack of one): two runs
    /// of one scope at once show here as 2, since one run of a linked listing asks for one
    /// page at a time.
    pub(crate) in_flight_same_scope: usize,
}

impl RecordedRequest {
    /// The first value of query parameter `name`.
    pub(crate) fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug)]
pub(crate) struct FakeOptions {
    /// `None`: any Bearer token is accepted, but the header is still required.
    pub(crate) api_key: Option<String>,
    pub(crate) shape: Shape,
    pub(crate) pagination: Pagination,
    /// Records per page; 0 serves everything in one response.
    pub(crate) per_page: usize,
    /// Assigned round robin to generated groups; empty leaves `business_code` out of records.
    pub(crate) business_codes: Vec<i64>,
    /// 0 picks a free port.
    pub(crate) port: u16,
    /// Groups generated at start (ids 1..=groups).
    pub(crate) groups: usize,
    /// Varies the generated timestamps; the same seed gives the same bytes.
    pub(crate) seed: u64,
    pub(crate) honour_updated_at_filter: bool,
    pub(crate) message_count: MessageCount,
    /// Waited before answering each API request, as a network round trip.
    pub(crate) latency: Duration,
    /// Serve HTTPS with this configuration (see [`TestCa`]) instead of plain HTTP.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            api_key: Some("test-key".into()),
            shape: Shape::Array,
            pagination: Pagination::None,
            per_page: 0,
            business_codes: vec![1],
            port: 0,
            groups: 0,
            seed: 0,
            honour_updated_at_filter: true,
            message_count: MessageCount::Real,
            latency: Duration::ZERO,
            tls: None,
        }
    }
}

/// The settings a running fake can change.
struct Config {
    api_key: Option<String>,
    shape: Shape,
    pagination: Pagination,
    per_page: usize,
    business_codes: Vec<i64>,
    filter: UpdatedAtFilter,
    message_count: MessageCount,
}

struct State {
    cfg: Config,
    data: Dataset,
    /// Counts every access that may change what a request is answered with; the answers
    /// kept by `wire` belong to one generation.
    generation: u64,
}

/// What the server task and every handle share.
struct Shared {
    base_url: String,
    state: Mutex<State>,
    faults: Mutex<VecDeque<Fault>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Mutations waiting for the API request count to reach theirs.
    mutations: Mutex<Vec<(usize, Mutation)>>,
    wire: wire::Wire,
    /// Requests being answered, by their `business_code` query value.
    scopes_in_flight: Arc<Mutex<HashMap<String, usize>>>,
}

impl Shared {
    /// The state, to change it (or to read it outside the data handler): answers kept from
    /// before are no longer served.
    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = lock(&self.state);
        state.generation += 1;
        state
    }

    /// The state for answering a request: its only writes are the dataset's own caches, which
    /// change no answer.
    fn serving_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Applies the mutations whose request count has been reached, in the order queued.
    fn apply_due_mutations(&self) {
        let served = lock(&self.requests).len();
        let due: Vec<Mutation> = {
            let mut queued = lock(&self.mutations);
            let (due, later) = queued.drain(..).partition(|(at, _)| *at <= served);
            *queued = later;
            due.into_iter().map(|(_, m)| m).collect()
        };
        for m in due {
            self.state().data.apply(m);
        }
    }
}

/// A poisoned lock only means a test panicked elsewhere; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Handle to a running fake; clones share it, and the server stops when the last is dropped.
#[derive(Clone)]
pub(crate) struct FakeApi {
    shared: Arc<Shared>,
    stop: Arc<StopOnDrop>,
}

struct StopOnDrop {
    token: CancellationToken,
    _guard: DropGuard,
}

impl FakeApi {
    /// Binds 127.0.0.1:`opts.port` and serves on the current tokio runtime.
    pub(crate) async fn start(opts: FakeOptions) -> std::io::Result<FakeApi> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
        let addr = listener.local_addr()?;
        let mut data = Dataset::new(opts.seed);
        data.generate(opts.groups, &opts.business_codes);
        let cfg = Config {
            api_key: opts.api_key,
            shape: opts.shape,
            pagination: opts.pagination,
            per_page: opts.per_page,
            business_codes: opts.business_codes,
            filter: if opts.honour_updated_at_filter {
                UpdatedAtFilter::Since
            } else {
                UpdatedAtFilter::Ignore
            },
            message_count: opts.message_count,
        };
        let scheme = if opts.tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared {
            base_url: format!("{scheme}://{addr}"),
            state: Mutex::new(State {
                cfg,
                data,
                generation: 0,
            }),
            faults: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            mutations: Mutex::new(Vec::new()),
            wire: wire::Wire::default(),
            scopes_in_flight: Arc::new(Mutex::new(HashMap::new())),
        });
        shared.wire.set_latency(opts.latency);
        let token = CancellationToken::new();
        match opts.tls {
            Some(config) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                let tcp = listener;
                let tls = tls::TlsListener { tcp, acceptor };
                server::spawn(tls, shared.clone(), token.clone());
            }
            None => server::spawn(listener, shared.clone(), token.clone()),
        }
        let stop = StopOnDrop {
            token: token.clone(),
            _guard: token.drop_guard(),
        };
        Ok(FakeApi {
            shared,
            stop: Arc::new(stop),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The full URL of the API endpoint.
    pub(crate) fn api_url(&self) -> String {
        format!("{}{API_PATH}", self.shared.base_url)
    }

    /// Bytes of data responses sent so far, compressed and decoded.
    pub(crate) fn wire_bytes(&self) -> WireBytes {
        self.shared.wire.bytes()
    }

    /// Answers carry a `Date` this many seconds off the real time (0: the true time).
    pub(crate) fn set_clock_skew(&self, secs: i64) {
        self.shared.wire.set_clock_skew(secs);
    }

    /// Every API request waits `latency` before it is answered.
    pub(crate) fn set_latency(&self, latency: Duration) {
        self.shared.wire.set_latency(latency);
    }

    /// Stops accepting connections; requests in flight get a short grace period.
    pub(crate) fn shutdown(&self) {
        self.stop.token.cancel();
    }

    /// Replaces the whole dataset (raw records included) with groups 1..=n.
    pub(crate) fn generate(&self, n: usize) {
        let mut st = self.shared.state();
        let State { cfg, data, .. } = &mut *st;
        data.generate(n, &cfg.business_codes);
    }

    /// Inserts or replaces one ordinary group. `updated_at` is `YYYY-MM-DD HH:MM:SS` (a `T`,
    /// a `Z` or a bare date also do); anything else panics: use `put_raw` for bad timestamps.
    pub(crate) fn put_group(&self, id: i64, business_code: i64, name: &str, updated_at: &str) {
        let updated = timestamps::parse_ts(updated_at)
            .unwrap_or_else(|| panic!("put_group: bad updated_at {updated_at:?}, use put_raw"));
        self.shared
            .state()
            .data
            .put_group(id, business_code, name, updated);
    }

    /// Adds a verbatim record. An object with a positive integer `id` replaces that id and
    /// sorts in; anything else is emitted after the groups of the last page. Filters skip a
    /// raw record only on a field it has and that parses.
    pub(crate) fn put_raw(&self, raw_json: &str) {
        self.shared.state().data.put_raw(raw_json);
    }

    /// Bumps the version (seen in name and description) and `updated_at` of these ids.
    pub(crate) fn update_groups(&self, ids: &[i64], updated_at: &str) {
        let updated = timestamps::parse_ts(updated_at)
            .unwrap_or_else(|| panic!("update_groups: bad updated_at {updated_at:?}"));
        self.shared.state().data.update(ids, updated);
    }

    /// Updates `round(fraction * groups)` ids spread evenly over the dataset; returns them.
    pub(crate) fn update_fraction(&self, fraction: f64, updated_at: &str) -> Vec<i64> {
        let updated = timestamps::parse_ts(updated_at)
            .unwrap_or_else(|| panic!("update_fraction: bad updated_at {updated_at:?}"));
        let mut st = self.shared.state();
        let count = (fraction.clamp(0.0, 1.0) * st.data.group_len() as f64).round() as usize;
        let ids = st.data.spread_ids(count);
        st.data.update(&ids, updated);
        ids
    }

    pub(crate) fn remove_groups(&self, ids: &[i64]) {
        self.shared.state().data.remove(ids);
    }

    /// Number of records served by an unfiltered sync (raw records included).
    pub(crate) fn group_count(&self) -> usize {
        self.shared.state().data.len()
    }

    pub(crate) fn set_shape(&self, s: Shape) {
        self.shared.state().cfg.shape = s;
    }

    pub(crate) fn set_pagination(&self, p: Pagination, per_page: usize) {
        let mut st = self.shared.state();
        st.cfg.pagination = p;
        st.cfg.per_page = per_page;
    }

    /// `None`: any Bearer token passes (the header is still required).
    pub(crate) fn set_api_key(&self, key: Option<&str>) {
        self.shared.state().cfg.api_key = key.map(str::to_owned);
    }

    /// `false` simulates an API that ignores `updated_at` and returns everything.
    pub(crate) fn honour_updated_at_filter(&self, yes: bool) {
        self.set_updated_at_filter(if yes {
            UpdatedAtFilter::Since
        } else {
            UpdatedAtFilter::Ignore
        });
    }

    pub(crate) fn set_updated_at_filter(&self, f: UpdatedAtFilter) {
        self.shared.state().cfg.filter = f;
    }

    /// Applies `m` right after the `after`-th API request from now has been answered (1: the
    /// next one), whatever that request was (data, fault or auth failure).
    pub(crate) fn mutate_after(&self, after: usize, m: Mutation) {
        let at = lock(&self.shared.requests).len() + after.max(1);
        lock(&self.shared.mutations).push((at, m));
    }

    /// Removes and returns the mutations `mutate_after` queued that no request has reached.
    pub(crate) fn take_pending_mutations(&self) -> Vec<Mutation> {
        let mut queued = lock(&self.shared.mutations);
        queued.drain(..).map(|(_, m)| m).collect()
    }

    /// The upstream as it stands: id → the record's JSON exactly as the API would send it.
    /// Records without a usable id are left out.
    pub(crate) fn snapshot(&self) -> std::collections::BTreeMap<i64, String> {
        self.shared.state().data.rendered()
    }

    pub(crate) fn set_message_count(&self, m: MessageCount) {
        self.shared.state().cfg.message_count = m;
    }

    /// Queues a fault; each API request that passes auth consumes one, oldest first.
    pub(crate) fn push_fault(&self, f: Fault) {
        lock(&self.shared.faults).push_back(f);
    }

    /// Drops the faults no request has consumed yet.
    pub(crate) fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    pub(crate) fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).len()
    }

    /// Every request to the API path so far (control endpoints excluded), in arrival order.
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    pub(crate) fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }
}
