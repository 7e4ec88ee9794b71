//! The HTTP side: one request per page, the key only ever sent to the configured origin,
//! bodies capped before they are buffered, transient failures retried with backoff.

use std::time::Duration;

use chrono::NaiveDate;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER, USER_AGENT};
use reqwest::redirect::Policy;
use reqwest::Url;
use tracing::warn;

use super::envelope::{peek_next_link, NextLink};
use super::error::ApiError;
use super::page::{Page, Reached};
use super::redact::Redactor;
use super::response::interpret;
use crate::domain::{ApiKey, Scope};

/// The longest `Retry-After` we honour: a server asking for an hour is treated as 5 minutes.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// The longest exponential backoff step.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The endpoint's path under `base_url`.
pub const ENDPOINT: &str = "api/v1/customer-groups";

#[derive(Clone, Debug)]
pub struct ClientSettings {
    pub base_url: Url,
    pub key: ApiKey,
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub max_response_bytes: u64,
    /// The first backoff step; it doubles with each retry.
    pub retry_base_delay: Duration,
    /// Trusted on top of the system trust store (`ca_file`).
    pub extra_roots: Vec<reqwest::Certificate>,
}

/// A failed attempt that will be tried again; the sync logs each as a `retry` event.
#[derive(Debug)]
pub struct RetryNotice {
    /// When the attempt failed: the `retry` row's `sync_log.at`.
    pub at: chrono::NaiveDateTime,
    pub url: Url,
    /// 1 for the first retry.
    pub retry: u32,
    pub max_retries: u32,
    pub delay: Duration,
    pub error: ApiError,
}

#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    endpoint: Url,
    settings: ClientSettings,
    /// Built once: every response body and error passes through it.
    redactor: Redactor,
    server_clock: super::clock::ServerClock,
}

/// The error a redirect to another origin is stopped with, found again in reqwest's error.
#[derive(Debug)]
struct CrossOriginRedirect(String);

impl std::fmt::Display for CrossOriginRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirect to another origin: {}", self.0)
    }
}

impl std::error::Error for CrossOriginRedirect {}

impl ApiClient {
    pub fn new(settings: ClientSettings) -> Result<ApiClient, ApiError> {
        let endpoint = endpoint_url(&settings.base_url)?;
        let origin = endpoint.origin();
        // Same-origin redirects are followed (the key goes along); any other is refused
        // outright rather than followed without the key, so the failure is visible.
        let policy = Policy::custom(move |attempt| {
            if attempt.url().origin() != origin {
                let url = attempt.url().to_string();
                attempt.error(CrossOriginRedirect(url))
            } else if attempt.previous().len() >= 10 {
                attempt.error("more than 10 redirects")
            } else {
                attempt.follow()
            }
        });
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", settings.key.expose()))
            .map_err(|_| ApiError::BadResponse("the API key contains invalid characters".into()))?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        let agent = concat!("xtrakit-sync/", env!("CARGO_PKG_VERSION"));
        headers.insert(USER_AGENT, HeaderValue::from_static(agent));
        let mut builder = reqwest::Client::builder();
        for root in &settings.extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
        let http = builder
            .default_headers(headers)
            .redirect(policy)
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| ApiError::Network(format!("cannot build the HTTP client: {e}")))?;
        Ok(ApiClient {
            http,
            endpoint,
            redactor: Redactor::new(&settings.key),
            settings,
            server_clock: Default::default(),
        })
    }

    /// The customer-groups endpoint every request starts from (`base_url` + `api/v1/…`).
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub fn key(&self) -> &ApiKey {
        &self.settings.key
    }

    /// The first request of a run: the scope's code, and the day filter of an incremental run.
    pub fn first_page(&self, scope: &Scope, updated_since: Option<NaiveDate>) -> Url {
        let mut url = self.endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(code) = scope.business_code() {
                query.append_pair("business_code", &code.to_string());
            }
            if let Some(day) = updated_since {
                query.append_pair("updated_at", &day.format("%Y-%m-%d").to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    /// The URL of the page after `current`, if the response named one. A link to another
    /// origin is refused: the key is never sent anywhere but `base_url`'s origin.
    pub fn next_page(&self, current: &Url, next: &NextLink) -> Result<Option<Url>, ApiError> {
        match next {
            NextLink::None => Ok(None),
            NextLink::Url(link) => {
                let url = current.join(link).map_err(|e| {
                    ApiError::BadResponse(format!("bad next page link {link:?}: {e}"))
                        .redact(&self.redactor)
                })?;
                if url.origin() != self.endpoint.origin() {
                    let refused = ApiError::CrossOrigin {
                        url: url.to_string(),
                    };
                    return Err(refused.redact(&self.redactor));
                }
                Ok(Some(url))
            }
            NextLink::Page(number) => {
                let mut url = current.clone();
                let kept: Vec<(String, String)> = current
                    .query_pairs()
                    .filter(|(k, _)| k != "page")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(kept)
                    .append_pair("page", &number.to_string());
                Ok(Some(url))
            }
        }
    }

    /// Fetches one page, retrying what may succeed on a second try. Each retry is pushed to
    /// `retries` as it happens, so the caller can log it even if this future is dropped.
    pub async fn fetch_page(
        &self,
        url: &Url,
        reached: Reached,
        retries: &mut Vec<RetryNotice>,
    ) -> Result<Page, ApiError> {
        self.fetch_page_hinting(url, reached, retries, None::<fn(Url)>)
            .await
    }

    /// [`ApiClient::fetch_page`], telling `hint` the next page's link (same origin only) as
    /// soon as a successful body names one, before its records are parsed: over a slow
    /// network the next request then does not wait for the parse.
    pub async fn fetch_page_hinting(
        &self,
        url: &Url,
        reached: Reached,
        retries: &mut Vec<RetryNotice>,
        mut hint: Option<impl FnOnce(Url)>,
    ) -> Result<Page, ApiError> {
        let mut retry = 0;
        loop {
            let (result, retry_after) = self.fetch_once(url, reached, &mut hint).await;
            let error = match result {
                Ok(page) => return Ok(page),
                Err(e) if !e.is_retryable() || retry >= self.settings.max_retries => return Err(e),
                Err(e) => e,
            };
            retry += 1;
            let delay = retry_after.unwrap_or_else(|| self.backoff(retry));
            log_retry(url, retry, self.settings.max_retries, delay, &error);
            retries.push(RetryNotice {
                at: crate::domain::now_utc(),
                url: url.clone(),
                retry,
                max_retries: self.settings.max_retries,
                delay,
                error,
            });
            tokio::time::sleep(delay).await;
        }
    }

    /// Exponential backoff with jitter (half to full step), so that many daemons that
    /// failed together do not retry together.
    fn backoff(&self, retry: u32) -> Duration {
        let step = self
            .settings
            .retry_base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        step.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    /// One attempt; also returns the server's `Retry-After`, if it sent one.
    async fn fetch_once(
        &self,
        url: &Url,
        reached: Reached,
        hint: &mut Option<impl FnOnce(Url)>,
    ) -> (Result<Page, ApiError>, Option<Duration>) {
        let response = match self.http.get(url.clone()).send().await {
            Ok(r) => r,
            // A redirect's `Location` (in the URL reqwest quotes) may carry the key.
            Err(e) => return (Err(request_error(e).redact(&self.redactor)), None),
        };
        let status = response.status();
        self.server_clock.check(response.headers());
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match self.read_capped(response).await {
            Ok(body) => body,
            Err(e) => return (Err(e.redact(&self.redactor)), retry_after),
        };
        // An API that echoes the request's headers must not put the key into the database,
        // run rows, `sync_log` or the logs: the body is cleaned before it is parsed, so all
        // that is read from it is clean; error texts also lose fragments of the key.
        let body = self.redactor.clean_body(&body);
        if status.is_success() && hint.is_some() {
            self.hint_next(url, &body, hint);
            if hint.is_none() {
                // What the hint woke (the listing, the connection that sends the next
                // request) runs before the parse below: without this, the next request
                // reached the server 1.5–2.3 ms late (100 linked pages: ~0.2 s slower).
                tokio::task::yield_now().await;
            }
        }
        let result = interpret(url, status, &body, &self.redactor, reached)
            .map_err(|e| e.redact(&self.redactor));
        (result, retry_after)
    }

    fn hint_next(&self, url: &Url, body: &[u8], hint: &mut Option<impl FnOnce(Url)>) {
        let Some(link) = hint.is_some().then(|| peek_next_link(body)).flatten() else {
            return;
        };
        if let (Ok(Some(next)), Some(hint)) =
            (self.next_page(url, &NextLink::Url(link)), hint.take())
        {
            hint(next);
        }
    }

    /// Reads the body, refusing it as soon as it is known to exceed the cap.
    async fn read_capped(&self, mut response: reqwest::Response) -> Result<Vec<u8>, ApiError> {
        let limit = self.settings.max_response_bytes;
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(ApiError::TooLarge { limit });
        }
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > limit {
                        return Err(ApiError::TooLarge { limit });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body),
                Err(e) => return Err(ApiError::Network(format!("response body broke off: {e}"))),
            }
        }
    }
}

/// The endpoint under `base_url`, which may carry a path prefix (a proxy's, say).
fn endpoint_url(base: &Url) -> Result<Url, ApiError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(ENDPOINT)
        .map_err(|e| ApiError::BadResponse(format!("cannot build the endpoint URL: {e}")))
}

/// One short line per retry: what failed (its status is in the error's text), which
/// attempt, the wait, and the URL once. No span repeats the URL around it.
fn log_retry(url: &Url, retry: u32, max_retries: u32, delay: Duration, error: &ApiError) {
    let wait = crate::domain::format_millis(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
    warn!("retry {retry} of {max_retries} in {wait}: {error}; GET {url}");
}

fn request_error(e: reqwest::Error) -> ApiError {
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(err) = source {
        if let Some(redirect) = err.downcast_ref::<CrossOriginRedirect>() {
            return ApiError::CrossOrigin {
                url: redirect.0.clone(),
            };
        }
        if let Some(refused) = super::tls::permanent(err) {
            return refused;
        }
        source = err.source();
    }
    if e.is_timeout() {
        return ApiError::Network(format!("request timed out: {}", without_url(&e)));
    }
    ApiError::Network(without_url(&e))
}

/// reqwest's message with the error's causes, which say what really failed, without the
/// URL reqwest puts in it: the retry line and the run's end name the URL once themselves.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` as seconds or as an HTTP date, capped.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let when = httpdate::parse_http_date(value).ok()?;
            when.duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_is_capped() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("86400"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn retry_after_in_the_past_means_now() {
        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(parse_retry_after(past), Some(Duration::ZERO));
    }

    #[test]
    fn endpoint_keeps_a_path_prefix() {
        let base = Url::parse("https://proxy.example/xtrakit").unwrap();
        assert_eq!(
            endpoint_url(&base).unwrap().as_str(),
            "https://proxy.example/xtrakit/api/v1/customer-groups"
        );
    }
}
