//! What a complete response means: docs/upstream-api.md's reading of statuses and bodies, and
//! section 5's auth failures (HTTP 401/403, or a body `status` of 401/403 under any HTTP code).

use reqwest::{StatusCode, Url};

use super::envelope::{parse_body, Content, NextLink, ParsedBody};
use super::error::ApiError;
use super::page::{Page, Reached};
use super::redact::Redactor;

/// Decides what a complete response means (docs/upstream-api.md and 5).
/// The key, and any fragment of it, is blanked out of any body text quoted in an error before
/// that text is cut short: a cut inside an echoed key would otherwise leave part of it.
///
/// "No data" means the end of the data only on the first request of a listing; on a page the
/// API linked to, it announced more than it gave, and taking that as the end would mark every
/// group of the missing pages deleted. It is then a `bad_response`: retried, then the run fails.
pub(super) fn interpret(
    url: &Url,
    status: StatusCode,
    body: &[u8],
    redactor: &Redactor,
    reached: Reached,
) -> Result<Page, ApiError> {
    let summarise = |body: &[u8]| summarise(body, redactor);
    let code = status.as_u16();
    if code == 204 {
        return no_data(url, code, reached, "204 No Content", ParsedBody::default());
    }
    let parsed = parse_body(body);
    let said = |p: &ParsedBody| p.error.clone().or_else(|| p.message.clone());
    if code == 401 || code == 403 {
        let message = parsed.as_ref().ok().and_then(said);
        return Err(ApiError::Auth {
            status: code,
            message: message.unwrap_or_else(|| summarise(body)),
        });
    }
    let parsed = match parsed {
        Ok(p) => p,
        Err(why) if status.is_success() => {
            return Err(ApiError::BadResponse(format!(
                "body is not JSON ({why}): {}",
                summarise(body)
            )))
        }
        Err(_) => {
            return Err(ApiError::Http {
                status: code,
                message: summarise(body),
            })
        }
    };
    if let Some(s @ (401 | 403)) = parsed.status {
        return Err(ApiError::Auth {
            status: s as u16,
            message: said(&parsed).unwrap_or_else(|| format!("body status {s}")),
        });
    }
    let has_groups = matches!(parsed.content, Content::Groups(_));
    // A body status of 404 is read as an HTTP 404: "nothing found", when it names no error.
    let not_found = code == 404 || (status.is_success() && parsed.status == Some(404));
    if not_found && parsed.error.is_none() && !has_groups {
        return no_data(url, code, reached, "404 Not Found", parsed);
    }
    if !status.is_success() {
        return Err(ApiError::Http {
            status: code,
            message: said(&parsed).unwrap_or_else(|| summarise(body)),
        });
    }
    if let Some(s) = parsed.status.filter(|s| !(200..300).contains(s)) {
        return Err(ApiError::Http {
            status: u16::try_from(s).unwrap_or(0),
            message: said(&parsed).unwrap_or_else(|| format!("body status {s}")),
        });
    }
    if let (Some(error), false) = (&parsed.error, has_groups) {
        return Err(ApiError::BadResponse(format!(
            "the API answered {code} with an error and no groups: {error}"
        )));
    }
    if let Content::Unrecognised(why) = &parsed.content {
        return Err(ApiError::BadResponse(why.clone()));
    }
    if matches!(parsed.content, Content::Empty) {
        return no_data(url, code, reached, "no groups", parsed);
    }
    Ok(Page {
        url: url.clone(),
        http_status: code,
        body: parsed,
    })
}

/// A response without data: an empty result on the first request, a `bad_response` on a
/// page the API linked to. The empty result keeps what the body said besides (a count it
/// announced is still checked against the nothing that arrived), but no link: there is no
/// listing to continue.
fn no_data(
    url: &Url,
    code: u16,
    reached: Reached,
    what: &str,
    body: ParsedBody,
) -> Result<Page, ApiError> {
    match reached {
        Reached::First => Ok(Page {
            url: url.clone(),
            http_status: code,
            body: ParsedBody {
                content: Content::Empty,
                next: NextLink::None,
                ..body
            },
        }),
        Reached::Link => Err(ApiError::BadResponse(format!(
            "{what} on a page the previous page linked to: the listing is incomplete"
        ))),
    }
}

/// A short, printable description of a body that is not what we expected.
fn summarise(body: &[u8], redactor: &Redactor) -> String {
    let text = String::from_utf8_lossy(body);
    let text = redactor.clean_text(&text);
    let text = text.trim();
    if text.is_empty() {
        return "empty body".to_owned();
    }
    if text.starts_with('<') {
        return "an HTML page instead of JSON".to_owned();
    }
    let mut short: String = text.chars().take(200).filter(|c| !c.is_control()).collect();
    if text.chars().count() > 200 {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ApiKey;

    fn redactor(key: &str) -> Redactor {
        Redactor::new(&ApiKey::new(key).expect("a key"))
    }

    fn read(status: u16, body: &str, reached: Reached) -> Result<Page, ApiError> {
        let url = Url::parse("http://127.0.0.1/api/v1/customer-groups").unwrap();
        let status = StatusCode::from_u16(status).unwrap();
        let key = crate::domain::ApiKey::new("key-of-the-test").unwrap();
        interpret(&url, status, body.as_bytes(), &Redactor::new(&key), reached)
    }

    fn is_empty_result(r: Result<Page, ApiError>) -> bool {
        matches!(r, Ok(page) if matches!(page.body.content, Content::Empty))
    }

    fn is_bad_response(r: Result<Page, ApiError>) -> bool {
        matches!(r, Err(ApiError::BadResponse(_)))
    }

    #[test]
    fn no_data_is_an_empty_result_first_and_a_bad_response_on_a_linked_page() {
        for (status, body) in [
            (200, r#"{"status":200,"data":[]}"#),
            (200, r#"{"status":200,"data":{"groups":[]}}"#),
            (204, ""),
            (404, r#"{"message":"Not Found"}"#),
            (200, r#"{"status":404,"message":"No groups"}"#),
        ] {
            assert!(
                is_empty_result(read(status, body, Reached::First)),
                "{status} {body}"
            );
            assert!(
                is_bad_response(read(status, body, Reached::Link)),
                "{status} {body}"
            );
        }
    }

    #[test]
    fn an_empty_first_page_keeps_the_count_it_announced() {
        let page = read(
            200,
            r#"{"message":"Groups found: 999","data":[]}"#,
            Reached::First,
        );
        let page = page.expect("an empty result");
        assert_eq!(page.body.announced_count(), Some(999));
        assert_eq!(page.body.next, NextLink::None);
    }

    #[test]
    fn an_error_field_without_groups_is_a_bad_response_even_on_the_first_request() {
        let r = read(200, r#"{"error":"maintenance"}"#, Reached::First);
        assert!(matches!(&r, Err(ApiError::BadResponse(m)) if m.contains("maintenance")));
    }

    #[test]
    fn a_body_status_404_with_an_error_is_an_http_404() {
        let r = read(
            200,
            r#"{"status":404,"error":"Unknown business"}"#,
            Reached::First,
        );
        assert!(matches!(r, Err(ApiError::Http { status: 404, .. })));
    }

    #[test]
    fn html_bodies_are_summarised_not_echoed() {
        let k = redactor("k");
        assert_eq!(
            summarise(b"<html><body>502</body></html>", &k),
            "an HTML page instead of JSON"
        );
        assert_eq!(summarise(b"  ", &k), "empty body");
    }

    #[test]
    fn an_echoed_key_is_blanked_before_the_text_is_cut() {
        let secret = "sk-live-0123456789";
        let body = format!("{}{secret} trailing", "x".repeat(195));
        let short = summarise(body.as_bytes(), &redactor(secret));
        assert!(!short.contains("sk-l"), "{short}");
        assert!(short.starts_with(&"x".repeat(195)));
    }

    #[test]
    fn a_body_cut_short_inside_an_escaped_key_leaves_no_fragment_of_it() {
        let body = r#"{"status":500,"error":"Bad token sk\/live+Qx7Zp2"#;
        let short = summarise(body.as_bytes(), &redactor("sk/live+Qx7Zp2Wm9Rt4Vb8N=="));
        assert_eq!(short, r#"{"status":500,"error":"Bad token [redacted]"#);
    }
}
