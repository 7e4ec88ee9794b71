//! `/_fake/...` endpoints: drive a running fake from curl or a script, without auth.
//!
//! - `POST /_fake/generate?n=N`: replace the dataset with groups 1..=N
//! - `POST /_fake/update?count=N` or `?fraction=F`: touch groups spread over the ids, now (UTC)
//! - `POST /_fake/delete?count=N`: remove the N highest ids
//! - `POST /_fake/fault?kind=K&times=T`: queue a fault T times (default 1); kinds: `pass`,
//!   `status` (`status`, `body`, `retry_after`), `body401` (`error`), `slow` (`ms`), `html`
//!   (`status`), `invalid-json`, `truncated`, `oversized` (`bytes`, `content_length`),
//!   `redirect` (`location`)
//! - `POST /_fake/key?value=KEY`: require this key; no or empty value accepts any key
//! - `POST /_fake/put?from=A&to=B&name=NAME`: insert or replace groups A..=B, updated now
//! - `POST /_fake/raw` with a JSON record as the body: add it verbatim (see `put_raw`)
//! - `POST /_fake/remove-after?requests=N&id=ID`: remove group ID once N more API requests
//!   have been answered (upstream churn while a sync pages through)
//! - `POST /_fake/filter?updated_at=since|ignore|end-date`: how `updated_at` is read
//! - `GET /_fake/stats`: record and request counts

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::server::json;
use super::timestamps::format_ts;
use super::{lock, Fault, Shared};

type Params = Query<HashMap<String, String>>;

/// Each handler's outcome: the JSON answer, or what was wrong with the request.
type Answer = Result<String, String>;

pub(super) async fn generate(State(shared): State<Arc<Shared>>, Query(q): Params) -> Response {
    reply((|| {
        let n: usize = param(&q, "n", None)?;
        let mut st = shared.state();
        let super::State { cfg, data, .. } = &mut *st;
        data.generate(n, &cfg.business_codes);
        Ok(format!("{{\"groups\":{n}}}"))
    })())
}

pub(super) async fn update(State(shared): State<Arc<Shared>>, Query(q): Params) -> Response {
    reply((|| {
        let now = chrono::Utc::now().timestamp();
        let mut st = shared.state();
        let count = if q.contains_key("fraction") {
            let f: f64 = param(&q, "fraction", None)?;
            (f.clamp(0.0, 1.0) * st.data.group_len() as f64).round() as usize
        } else {
            param(&q, "count", None)?
        };
        let ids = st.data.spread_ids(count);
        st.data.update(&ids, now);
        let (n, stamp) = (ids.len(), format_ts(now));
        Ok(format!("{{\"updated\":{n},\"updated_at\":\"{stamp}\"}}"))
    })())
}

pub(super) async fn delete(State(shared): State<Arc<Shared>>, Query(q): Params) -> Response {
    reply((|| {
        let count: usize = param(&q, "count", None)?;
        let mut st = shared.state();
        let ids = st.data.highest_ids(count);
        st.data.remove(&ids);
        let (n, left) = (ids.len(), st.data.len());
        Ok(format!("{{\"deleted\":{n},\"groups\":{left}}}"))
    })())
}

pub(super) async fn fault(State(shared): State<Arc<Shared>>, Query(q): Params) -> Response {
    reply((|| {
        let fault = parse_fault(&q)?;
        let times: usize = param(&q, "times", Some(1))?;
        let mut queue = lock(&shared.faults);
        queue.extend(std::iter::repeat_n(fault, times));
        Ok(format!(
            "{{\"queued\":{times},\"pending\":{}}}",
            queue.len()
        ))
    })())
}

pub(super) async fn put(State(shared): State<Arc<Shared>>, Query(q): Params) -> Response {
    reply((|| {
        let from: i64 = param(&q, "from", None)?;
        let to: i64 = param(&q, "to", Some(from))?;
        let name = q.get("name").cloned().unwrap_or_else(|| "Put".into());
        let now = chrono::Utc::now().timestamp();
        let mut st = shared.state();
        for id in from.max(1)..=to {
            st.data.put_group(id, 1, &name, now);
        }
        Ok(format!("{{\"groups\":{}}}", st.data.len()))
    })())
}

pub(super) async fn raw(State(shared): State<Arc<Shared>>, body: String) -> Response {
    let mut st = shared.state();
    st.data.put_raw(body.trim());
    reply(Ok(format!("{{\"groups\":{}}}", st.data.len())))
}

pub(super) async fn remove_after(State(shared): State<Arc<Shared>>, Query(q): Params) -> Response {
    reply((|| {
        let after: usize = param(&q, "requests", None)?;
        let id: i64 = param(&q, "id", None)?;
        let at = lock(&shared.requests).len() + after.max(1);
        lock(&shared.mutations).push((at, super::Mutation::Remove(vec![id])));
        Ok(format!("{{\"remove\":{id},\"after_request\":{at}}}"))
    })())
}

pub(super) async fn filter(State(shared): State<Arc<Shared>>, Query(q): Params) -> Response {
    reply((|| {
        let mode = match q.get("updated_at").map(String::as_str) {
            Some("since") => super::UpdatedAtFilter::Since,
            Some("ignore") => super::UpdatedAtFilter::Ignore,
            Some("end-date") => super::UpdatedAtFilter::EndDate,
            other => {
                return Err(format!(
                    "updated_at must be since, ignore or end-date, not {other:?}"
                ))
            }
        };
        shared.state().cfg.filter = mode;
        Ok(format!("{{\"updated_at\":\"{mode:?}\"}}"))
    })())
}

pub(super) async fn key(State(shared): State<Arc<Shared>>, Query(q): Params) -> Response {
    let value = q.get("value").map(|v| v.trim()).filter(|v| !v.is_empty());
    shared.state().cfg.api_key = value.map(str::to_owned);
    let mode = if value.is_some() { "fixed" } else { "any" };
    reply(Ok(format!("{{\"api_key\":\"{mode}\"}}")))
}

pub(super) async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let groups = shared.state().data.len();
    let requests = lock(&shared.requests).len();
    let pending = lock(&shared.faults).len();
    reply(Ok(format!(
        "{{\"groups\":{groups},\"requests\":{requests},\"pending_faults\":{pending}}}"
    )))
}

/// The API's JSON error body for `status`, its `status` field matching the HTTP one.
fn error_body(status: u16) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Error");
    format!("{{\"status\":{status},\"error\":\"{reason}\"}}")
}

fn parse_fault(q: &HashMap<String, String>) -> Result<Fault, String> {
    let text = |name: &str, default: &str| q.get(name).cloned().unwrap_or_else(|| default.into());
    let kind = q.get("kind").map(String::as_str).unwrap_or("");
    let fault = match kind {
        "pass" => Fault::Pass,
        "status" => {
            let status: u16 = param(q, "status", Some(500))?;
            Fault::Status {
                status,
                body: text("body", &error_body(status)),
                retry_after: q.get("retry_after").cloned(),
            }
        }
        "body401" => Fault::BodyStatus {
            status: 401,
            error: text("error", "Unauthorized: Invalid API Key"),
        },
        "slow" => Fault::Slow {
            delay: Duration::from_millis(param(q, "ms", Some(5000))?),
        },
        "html" => Fault::Html {
            status: param(q, "status", Some(502))?,
        },
        "invalid-json" => Fault::InvalidJson,
        "truncated" => Fault::Truncated,
        "oversized" => Fault::Oversized {
            bytes: param(q, "bytes", Some(300 << 20))?,
            content_length: param(q, "content_length", Some(true))?,
        },
        "redirect" => Fault::Redirect {
            location: text("location", "http://example.invalid/"),
        },
        other => return Err(format!("unknown fault kind {other:?}")),
    };
    Ok(fault)
}

/// A typed query parameter; without a default, a missing one is an error.
fn param<T: FromStr>(
    q: &HashMap<String, String>,
    name: &str,
    default: Option<T>,
) -> Result<T, String> {
    match (q.get(name), default) {
        (Some(v), _) => v.trim().parse().map_err(|_| format!("bad {name}: {v:?}")),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(format!("missing {name}")),
    }
}

fn reply(answer: Answer) -> Response {
    match answer {
        Ok(body) => json(StatusCode::OK, body),
        Err(message) => {
            let message = serde_json::to_string(&message).unwrap_or_else(|_| "\"\"".into());
            json(StatusCode::BAD_REQUEST, format!("{{\"error\":{message}}}"))
        }
    }
}
