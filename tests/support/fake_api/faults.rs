//! Turns a queued `Fault` into the misbehaving response it stands for.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{stream, StreamExt};

use super::server::json;
use super::Fault;

/// The start of a plausible success body, used where a body must look right at first.
const PREFIX: &str = "{\"status\":200,\"message\":\"Groups found: 3\",\"data\":{\"groups\":[";

/// `None` for the faults that end in serving data (`Pass`, and `Slow` once it has waited).
pub(super) fn respond(fault: Fault) -> Option<Response> {
    let resp = match fault {
        Fault::Pass | Fault::Slow { .. } => return None,
        Fault::Status {
            status,
            body,
            retry_after,
        } => {
            let mut resp = literal(status, content_type_of(&body), body);
            if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        Fault::BodyStatus { status, error } => {
            let error = serde_json::to_string(&error).unwrap_or_else(|_| "\"\"".into());
            json(
                StatusCode::OK,
                format!("{{\"status\":{status},\"error\":{error}}}"),
            )
        }
        Fault::InvalidJson => json(
            StatusCode::OK,
            format!("{PREFIX}{{\"id\":1,\"group_name\":\"Gro"),
        ),
        Fault::Html { status } => literal(status, "text/html; charset=utf-8", html_page(status)),
        Fault::Truncated => truncated(),
        Fault::Oversized {
            bytes,
            content_length,
        } => oversized(bytes, content_length),
        Fault::Redirect { location } => {
            let mut resp = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        Fault::Raw {
            status,
            content_type,
            body,
        } => literal(status, &content_type, body),
        Fault::GzipBomb { decoded_bytes } => gzip_bomb(decoded_bytes),
    };
    Some(resp)
}

fn literal(status: u16, content_type: &str, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, Body::from(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

fn content_type_of(body: &str) -> &'static str {
    match body.trim_start().as_bytes().first() {
        Some(b'{' | b'[') => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

fn html_page(status: u16) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><title>{status} Error</title></head>\
         <body><h1>{status}</h1><p>Something went wrong on our side.</p></body></html>\n"
    )
}

/// Declares more bytes than it sends, then fails the body stream: hyper aborts the
/// connection, so the client sees a body error rather than a short but complete body.
fn truncated() -> Response {
    let first = Bytes::from(format!(
        "{PREFIX}{{\"id\":1,\"group_name\":\"Group 1 v0\"}},"
    ));
    let declared = first.len() + 4096;
    // The pause lets hyper flush headers and the first chunk; failing at once would abort
    // before anything is written, which the client would see as a connection error.
    let failure = async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fake: truncated",
        ))
    };
    let chunks = stream::iter([Ok(first)]).chain(stream::once(failure));
    let mut resp = (StatusCode::OK, Body::from_stream(chunks)).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    resp
}

/// A complete, valid JSON body of exactly `bytes` bytes (when that is at least the size of
/// its frame), produced chunk by chunk so the fake never holds it whole.
fn oversized(bytes: usize, content_length: bool) -> Response {
    const HEAD: &str = "{\"status\":200,\"data\":{\"groups\":[]},\"padding\":\"";
    const TAIL: &str = "\"}";
    const CHUNK: usize = 64 * 1024;
    let padding = bytes.saturating_sub(HEAD.len() + TAIL.len());
    let total = HEAD.len() + padding + TAIL.len();
    let filler = Bytes::from(vec![b'x'; CHUNK]);
    let pads = (0..padding.div_ceil(CHUNK)).map(move |i| {
        let len = CHUNK.min(padding - i * CHUNK);
        filler.slice(..len)
    });
    let parts = std::iter::once(Bytes::from_static(HEAD.as_bytes()))
        .chain(pads)
        .chain(std::iter::once(Bytes::from_static(TAIL.as_bytes())))
        .map(Ok::<_, Infallible>);
    let mut resp = (StatusCode::OK, Body::from_stream(stream::iter(parts))).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if content_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    }
    resp
}

/// `body` gzip-compressed, as a server sends it to a client that accepts it.
pub(super) fn gzip_text(body: &str) -> Vec<u8> {
    gzip(&[body.as_bytes()])
}

/// Valid JSON of `decoded_bytes` bytes that compresses to a tiny fraction of that.
fn gzip_bomb(decoded_bytes: usize) -> Response {
    const HEAD: &str = "{\"status\":200,\"data\":{\"groups\":[]},\"padding\":\"";
    const TAIL: &str = "\"}";
    let padding = decoded_bytes.saturating_sub(HEAD.len() + TAIL.len());
    let filler = vec![b'0'; 1 << 20];
    let mut parts: Vec<&[u8]> = vec![HEAD.as_bytes()];
    let mut left = padding;
    while left > 0 {
        let n = left.min(filler.len());
        parts.push(&filler[..n]);
        left -= n;
    }
    parts.push(TAIL.as_bytes());
    gzip_response(StatusCode::OK, gzip(&parts))
}

fn gzip(parts: &[&[u8]]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for part in parts {
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(part);
    }
    encoder.finish().unwrap_or_default()
}

pub(super) fn gzip_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut resp = (status, Body::from(bytes)).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    resp
}
