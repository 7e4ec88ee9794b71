//! What can go wrong talking to the API, in the user's terms.

use std::borrow::Cow;

use super::redact::Redactor;

/// Statuses that say "try again later" rather than "you asked wrongly": 408, 425, 429 and
/// every 5xx (proxies' 520-524 included) except 501 Not Implemented and 505 HTTP Version Not
/// Supported, which will answer the same way however often they are asked.
fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429)
        || (500..600).contains(&status) && !matches!(status, 501 | 505)
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// HTTP 401/403, or a body `status` of 401/403 under any HTTP status.
    #[error("API rejected the key ({status}): {message}")]
    Auth { status: u16, message: String },
    /// A non-success status that is not an auth failure.
    #[error("API answered {status}: {message}")]
    Http { status: u16, message: String },
    /// Connection refused, reset, timed out, or the body broke off.
    #[error("network error: {0}")]
    Network(String),
    /// A body that is not one of the shapes the API is known to send.
    #[error("bad response: {0}")]
    BadResponse(String),
    /// A body larger than `max_response_bytes`; refused before it is buffered.
    #[error(
        "response larger than max_response_bytes ({limit} bytes) refused; if the API really \
         sends pages this large, raise max_response_bytes (memory peaks at about 3.5 times a page)"
    )]
    TooLarge { limit: u64 },
    /// A pagination link or redirect to another origin: the key is never sent there.
    #[error("refused to follow {url}: not the origin of base_url, the key is not sent there")]
    CrossOrigin { url: String },
    /// Pagination that loops or never ends.
    #[error("pagination stopped: {0}")]
    Pagination(String),
    /// The server's certificate is not trusted or not valid for its name: asking again
    /// gets the same certificate, so it is never retried.
    #[error(
        "TLS certificate not accepted: {0}; if a company CA signs the API's (or the \
         proxy's) certificate, set ca_file to that CA's PEM file or add it to the system \
         trust store"
    )]
    Certificate(String),
    /// The proxy answered 407: it wants credentials this process does not send.
    #[error(
        "the proxy answered 407 Proxy Authentication Required; give its user and password \
         in HTTPS_PROXY (http://user:password@host:port)"
    )]
    ProxyAuth,
}

impl ApiError {
    /// Whether the same request may succeed if simply tried again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Http { status, .. } => is_retryable_status(*status),
            ApiError::Network(_) | ApiError::BadResponse(_) => true,
            ApiError::Auth { .. }
            | ApiError::TooLarge { .. }
            | ApiError::CrossOrigin { .. }
            | ApiError::Pagination(_)
            | ApiError::Certificate(_)
            | ApiError::ProxyAuth => false,
        }
    }

    /// The HTTP (or body) status behind the error, if there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ApiError::Auth { status, .. } | ApiError::Http { status, .. } => Some(*status),
            ApiError::ProxyAuth => Some(407),
            _ => None,
        }
    }

    /// The same error with the key, in any form upstream may have echoed it, and any
    /// fragment of it blanked out of its text: error texts are what users read.
    pub(super) fn redact(self, redactor: &Redactor) -> ApiError {
        let clean = |text: String| {
            let cleaned = match redactor.clean_text(&text) {
                Cow::Owned(cleaned) => Some(cleaned),
                Cow::Borrowed(_) => None,
            };
            cleaned.unwrap_or(text)
        };
        match self {
            ApiError::Auth { status, message } => ApiError::Auth {
                status,
                message: clean(message),
            },
            ApiError::Http { status, message } => ApiError::Http {
                status,
                message: clean(message),
            },
            ApiError::Network(text) => ApiError::Network(clean(text)),
            ApiError::BadResponse(text) => ApiError::BadResponse(clean(text)),
            ApiError::Pagination(text) => ApiError::Pagination(clean(text)),
            ApiError::CrossOrigin { url } => ApiError::CrossOrigin { url: clean(url) },
            ApiError::Certificate(text) => ApiError::Certificate(clean(text)),
            e @ (ApiError::TooLarge { .. } | ApiError::ProxyAuth) => e,
        }
    }

    /// The `sync_log.event` that records this error.
    pub fn event(&self) -> &'static str {
        match self {
            ApiError::Auth { .. } => "auth_failure",
            ApiError::Http { .. } => "http_error",
            ApiError::Network(_) | ApiError::Certificate(_) | ApiError::ProxyAuth => {
                "network_error"
            }
            ApiError::BadResponse(_)
            | ApiError::TooLarge { .. }
            | ApiError::CrossOrigin { .. }
            | ApiError::Pagination(_) => "bad_response",
        }
    }
}

/// A failed request as the line a user reads: the error, the URL it happened at (never
/// carrying the key, which travels in a header), and for a 404 the usual cause, a wrong
/// `base_url`.
pub fn failure_text(
    error: &dyn std::fmt::Display,
    status: Option<u16>,
    url: Option<&str>,
) -> String {
    let mut text = error.to_string();
    if let Some(url) = url {
        text.push_str("; GET ");
        text.push_str(url);
    }
    if status == Some(404) {
        text.push_str(
            "; nothing is at this URL: base_url is the API's root (like \
             https://api.xtrakit.com), the path api/v1/customer-groups is added to it",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> ApiError {
        ApiError::Http {
            status,
            message: String::new(),
        }
    }

    #[test]
    fn a_failure_names_the_url_and_a_404_hints_at_base_url() {
        let url = Some("http://h/api/v1/customer-groups");
        let plain = failure_text(&http(500), Some(500), url);
        assert_eq!(
            plain,
            "API answered 500: ; GET http://h/api/v1/customer-groups"
        );
        let missing = failure_text(&http(404), Some(404), url);
        assert!(
            missing.contains("GET http://h/api/v1/customer-groups; "),
            "{missing}"
        );
        assert!(missing.contains("base_url is the API's root"), "{missing}");
        assert_eq!(failure_text(&"x", None, None), "x");
    }

    #[test]
    fn certificate_and_proxy_authentication_failures_are_not_retried() {
        assert!(!ApiError::Certificate("UnknownIssuer".into()).is_retryable());
        assert!(!ApiError::ProxyAuth.is_retryable());
        assert_eq!(ApiError::ProxyAuth.http_status(), Some(407));
    }

    #[test]
    fn every_5xx_but_501_and_505_is_retried() {
        for status in [500, 502, 503, 504, 507, 520, 521, 522, 523, 524, 599] {
            assert!(http(status).is_retryable(), "{status}");
        }
        for status in [501, 505] {
            assert!(!http(status).is_retryable(), "{status}");
        }
    }

    #[test]
    fn timeouts_too_early_and_rate_limits_are_retried_other_4xx_not() {
        for status in [408, 425, 429] {
            assert!(http(status).is_retryable(), "{status}");
        }
        for status in [400, 404, 405, 407, 409, 410, 422] {
            assert!(!http(status).is_retryable(), "{status}");
        }
    }
}
