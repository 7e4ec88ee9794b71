//! `check-config --probe`: one real request, the first page of the first scope, and what
//! it tells: reachability, TLS, the key's verdict, the response's shape, the pagination.
//! Nothing is written anywhere; the report lines are TOML comments, so the whole output of
//! `check-config` stays a valid configuration file.

use super::output::outln;
use std::time::Instant;

use reqwest::Url;

use crate::api::{ApiClient, ApiError, Content, NextLink, Page, Reached};
use crate::domain::{format_millis, Scope};
use crate::outcome::Exit;

/// Makes the request (no retry: the probe reports what one request meets) and prints the
/// findings; exits 0 when a sync would start fine, 3 when the key is rejected, else 1.
pub(super) async fn run(client: &ApiClient, scope: &Scope) -> Exit {
    let url = client.first_page(scope, None);
    outln!("# probe: GET {url}");
    let started = Instant::now();
    let result = client
        .fetch_page(&url, Reached::First, &mut Vec::new())
        .await;
    let took = format_millis(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    match result {
        Ok(page) => report_page(&page, &took),
        Err(e) => report_error(&url, &e, &took),
    }
}

fn line(label: &str, text: &str) {
    outln!("# {label:<11} {text}");
}

fn tls_line(url: &Url) {
    match url.scheme() {
        "https" => line("tls:", "ok (certificate verified)"),
        _ => line("tls:", "not used (plain http)"),
    }
}

fn report_page(page: &Page, took: &str) -> Exit {
    line(
        "reachable:",
        &format!("yes, HTTP {} in {took}", page.http_status),
    );
    tls_line(&page.url);
    line("key:", "accepted");
    let code = match &page.body.content {
        Content::Groups(groups) => {
            let rejected = match groups.rejected.len() {
                0 => String::new(),
                n => format!(", {n} of them not storable"),
            };
            let text = format!(
                "recognised, {} records on this page{rejected}",
                groups.received
            );
            line("response:", &text);
            Exit::Ok
        }
        Content::Empty => {
            line("response:", "recognised, no records (an empty result)");
            Exit::Ok
        }
        Content::Unrecognised(why) => {
            line("response:", &format!("not understood: {why}"));
            Exit::SyncFailed
        }
    };
    if let Some(message) = &page.body.message {
        line("message:", &crate::config::escape_controls(message));
    }
    line("pagination:", pagination(&page.body.next));
    if code != Exit::Ok {
        eprintln!(
            "xtrakit-sync: probe: the response is not one a sync can read; GET {}",
            page.url
        );
    }
    code
}

fn pagination(next: &NextLink) -> &'static str {
    match next {
        NextLink::Url(_) => "next_page_url links",
        NextLink::Page(_) => "numbered pages (current_page / last_page)",
        NextLink::None => "none announced (this page is the whole result)",
    }
}

fn report_error(url: &Url, error: &ApiError, took: &str) -> Exit {
    let code = match error {
        ApiError::Auth { status, .. } => {
            line("reachable:", &format!("yes, HTTP {status} in {took}"));
            tls_line(url);
            line("key:", &format!("rejected: {error}"));
            Exit::Auth
        }
        ApiError::Network(text) if is_tls_failure(text) => {
            line(
                "reachable:",
                "the host answered, but no TLS connection was made",
            );
            line("tls:", &format!("failed: {error}"));
            line("key:", "not checked (no answer)");
            Exit::SyncFailed
        }
        ApiError::Network(_) => {
            line("reachable:", &format!("no: {error}"));
            line("key:", "not checked (no answer)");
            Exit::SyncFailed
        }
        _ => {
            line("reachable:", &format!("yes, but: {error}"));
            tls_line(url);
            line("key:", "not rejected, but the request failed");
            Exit::SyncFailed
        }
    };
    eprintln!("xtrakit-sync: {}", super::failure_line(error, url));
    code
}

/// rustls' and reqwest's words for a failed handshake or certificate check.
fn is_tls_failure(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["certificate", "tls", "handshake", "corrupt message"]
        .iter()
        .any(|word| lower.contains(word))
}
