//! The axum server: routing, the API handler (record, auth, fault, data) and its lifecycle.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::dataset::Filter;
use super::timestamps;
use super::wire::{Answer, AnswerKey};
use super::{
    control, faults, lock, render, Fault, RecordedRequest, Shared, UpdatedAtFilter, API_PATH,
};

/// How long requests in flight may finish after shutdown before the server is dropped:
/// a queued `Slow` fault must not keep a finished test waiting.
const GRACE: Duration = Duration::from_millis(300);

pub(super) fn spawn<L>(listener: L, shared: Arc<Shared>, stop: CancellationToken)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let app = Router::new()
        .route(API_PATH, get(api))
        .route("/_fake/generate", post(control::generate))
        .route("/_fake/update", post(control::update))
        .route("/_fake/delete", post(control::delete))
        .route("/_fake/fault", post(control::fault))
        .route("/_fake/key", post(control::key))
        .route("/_fake/put", post(control::put))
        .route("/_fake/raw", post(control::raw))
        .route("/_fake/remove-after", post(control::remove_after))
        .route("/_fake/filter", post(control::filter))
        .route("/_fake/stats", get(control::stats))
        .with_state(shared);
    let serve = axum::serve(listener, app)
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .into_future();
    tokio::spawn(async move {
        let deadline = async {
            stop.cancelled().await;
            tokio::time::sleep(GRACE).await;
        };
        tokio::select! {
            _ = serve => {}
            _ = deadline => {}
        }
    });
}

async fn api(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let _answering = shared.wire.answering();
    let mut rec = record(&req);
    rec.in_flight = shared.wire.in_flight();
    let scope = rec.query_value("business_code").unwrap_or("").to_owned();
    let _scope_answering = ScopeAnswering::enter(&shared.scopes_in_flight, scope);
    rec.in_flight_same_scope = _scope_answering.count;
    lock(&shared.requests).push(rec.clone());
    if let Some(denied) = check_auth(&shared, req.headers()) {
        return denied;
    }
    let answer_at = shared.wire.answer_at();
    let fault = lock(&shared.faults).pop_front();
    if let Some(Fault::Slow { delay }) = &fault {
        tokio::time::sleep(*delay).await;
    }
    let mut resp = match fault.and_then(faults::respond) {
        Some(resp) => resp,
        None => serve_data(&shared, &req),
    };
    shared.apply_due_mutations();
    tokio::time::sleep_until(answer_at).await;
    if let Some(date) = shared.wire.skewed_date() {
        if let Ok(value) = header::HeaderValue::from_str(&date) {
            resp.headers_mut().insert(header::DATE, value);
        }
    }
    resp
}

fn record(req: &Request) -> RecordedRequest {
    let text = |name: header::HeaderName| {
        let value = req.headers().get(name)?;
        Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    RecordedRequest {
        path: req.uri().path().to_owned(),
        query: parse_query(req.uri().query().unwrap_or("")),
        authorization: text(header::AUTHORIZATION),
        user_agent: text(header::USER_AGENT),
        accept_encoding: text(header::ACCEPT_ENCODING),
        in_flight: 0,
        in_flight_same_scope: 0,
    }
}

/// Counts a request among those of its scope being answered, until dropped.
struct ScopeAnswering {
    scopes: Arc<Mutex<HashMap<String, usize>>>,
    scope: String,
    count: usize,
}

impl ScopeAnswering {
    fn enter(scopes: &Arc<Mutex<HashMap<String, usize>>>, scope: String) -> ScopeAnswering {
        let mut counts = lock(scopes);
        let count = counts.entry(scope.clone()).or_insert(0);
        *count += 1;
        let count = *count;
        drop(counts);
        ScopeAnswering {
            scopes: Arc::clone(scopes),
            scope,
            count,
        }
    }
}

impl Drop for ScopeAnswering {
    fn drop(&mut self) {
        if let Some(count) = lock(&self.scopes).get_mut(&self.scope) {
            *count = count.saturating_sub(1);
        }
    }
}

/// The API's own wording for both failures, with HTTP 401.
fn check_auth(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = value
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    let error = match (token, shared.serving_state().cfg.api_key.as_deref()) {
        (None, _) => "Unauthorized: Missing Bearer Token",
        (Some(got), Some(want)) if got != want => "Unauthorized: Invalid API Key",
        _ => return None,
    };
    let body = format!("{{\"status\":401,\"error\":\"{error}\"}}");
    Some(json(StatusCode::UNAUTHORIZED, body))
}

fn serve_data(shared: &Shared, req: &Request) -> Response {
    let wants_gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut st = shared.serving_state();
    let key = AnswerKey {
        generation: st.generation,
        uri: req.uri().to_string(),
        gzip: wants_gzip,
    };
    if let Some(answer) = shared.wire.kept(&key) {
        drop(st);
        return answer_response(shared, &answer);
    }
    let query = parse_query(req.uri().query().unwrap_or(""));
    let value = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let day = value("updated_at").and_then(timestamps::parse_ts);
    let filter = Filter {
        business_code: value("business_code").and_then(|v| v.parse().ok()),
        since: day.filter(|_| st.cfg.filter == UpdatedAtFilter::Since),
        until: day.filter(|_| st.cfg.filter == UpdatedAtFilter::EndDate),
    };
    let page = value("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let per_page = st.cfg.per_page;
    let info = st.data.page(filter, page, per_page);
    let next = (page < info.last_page).then(|| next_url(shared, req, page + 1, &st.cfg));
    let body = render::page(&st.data, &info, &st.cfg, next.as_deref());
    drop(st);
    let answer = Answer {
        decoded: body.len(),
        bytes: if wants_gzip {
            faults::gzip_text(&body)
        } else {
            body.into_bytes()
        },
        gzip: wants_gzip,
    };
    answer_response(shared, &shared.wire.keep(key, answer))
}

/// A data answer as sent, counted on the wire.
fn answer_response(shared: &Shared, answer: &Answer) -> Response {
    shared.wire.count(answer);
    if answer.gzip {
        return faults::gzip_response(StatusCode::OK, answer.bytes.clone());
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(answer.bytes.clone()),
    )
        .into_response()
}

/// Same path and query, `page` replaced; the query text is kept as sent, so encodings
/// survive the round trip.
fn next_url(shared: &Shared, req: &Request, page: usize, cfg: &super::Config) -> String {
    let mut query: Vec<&str> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|part| !part.is_empty() && part.split('=').next() != Some("page"))
        .collect();
    let page_param = format!("page={page}");
    query.push(&page_param);
    let absolute = matches!(
        cfg.pagination,
        super::Pagination::NextUrl { absolute: true, .. }
    );
    let origin = if absolute {
        shared.base_url.as_str()
    } else {
        ""
    };
    format!("{origin}{}?{}", req.uri().path(), query.join("&"))
}

pub(super) fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
pub(super) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
