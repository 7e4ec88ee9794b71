//! What a complete response means: SPEC section 2's reading of statuses and bodies, and
//! section 5's auth failures (HTTP 401/403, or a body `status` of 401/403 under any HTTP code).

use reqwest::{StatusCode, Url};

use super::client::Page;
use super::envelope::{parse_body, Content, ParsedBody};
use super::error::ApiError;
use super::redact::Redactor;

/// Decides what a complete response means (SPEC section 2 and 5).
/// The key, and any fragment of it, is blanked out of any body text quoted in an error before
/// that text is cut short: a cut inside an echoed key would otherwise leave part of it.
pub(super) fn interpret(
    url: &Url,
    status: StatusCode,
    body: &[u8],
    redactor: &Redactor,
) -> Result<Page, ApiError> {
    let summarise = |body: &[u8]| summarise(body, redactor);
    let code = status.as_u16();
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
    let empty_404 =
        code == 404 && parsed.error.is_none() && !matches!(parsed.content, Content::Groups(_));
    if !status.is_success() && !empty_404 {
        return Err(ApiError::Http {
            status: code,
            message: said(&parsed).unwrap_or_else(|| summarise(body)),
        });
    }
    if let Some(s) = parsed
        .status
        .filter(|s| !(200..300).contains(s) && !empty_404)
    {
        return Err(ApiError::Http {
            status: u16::try_from(s).unwrap_or(0),
            message: said(&parsed).unwrap_or_else(|| format!("body status {s}")),
        });
    }
    if let Content::Unrecognised(why) = &parsed.content {
        return Err(ApiError::BadResponse(why.clone()));
    }
    Ok(Page {
        url: url.clone(),
        http_status: code,
        body: parsed,
    })
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
