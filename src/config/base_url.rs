//! The `base_url` rules of SPEC section 8: the key travels in a header, so plain http is
//! only acceptable where nobody can listen in (loopback) or when the operator says so.

use std::net::IpAddr;

use reqwest::Url;

/// The checked URL, plus a warning when plain http was allowed for a non-loopback host.
pub(super) struct BaseUrl {
    pub url: Url,
    pub warning: Option<String>,
}

/// Errors are plain messages; the caller adds the setting name and its source.
pub(super) fn check(raw: &str, allow_insecure_http: bool) -> Result<BaseUrl, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("not a valid URL: {e}"))?;
    // Credentials in the URL would be printed by check-config and logs; refuse them
    // without echoing the URL.
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{url} must not have a query or fragment"));
    }
    let warning = match url.scheme() {
        "https" => None,
        "http" if is_loopback(&url) => None,
        "http" if allow_insecure_http => Some(format!(
            "base_url {url} is plain http (allow_insecure_http = true): the API key is sent \
             unencrypted"
        )),
        "http" => {
            return Err(format!(
                "{url} is plain http; use https://, a loopback host, or set \
                 allow_insecure_http = true"
            ))
        }
        other => return Err(format!("scheme {other:?} is not supported; use https://")),
    };
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(BaseUrl { url, warning })
}

/// `url::Host` is not reachable through reqwest, so the host is read back from its text
/// form (IPv6 hosts come bracketed).
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_url_is_accepted_with_a_trailing_slash_added() {
        let b = check("https://api.xtrakit.com", false).unwrap();
        assert_eq!(b.url.as_str(), "https://api.xtrakit.com/");
        assert!(b.warning.is_none());
    }

    #[test]
    fn path_prefix_is_kept_and_survives_join() {
        let b = check("https://gw.example.com/xtrakit", false).unwrap();
        let full = b.url.join("api/v1/customer-groups").unwrap();
        assert_eq!(
            full.as_str(),
            "https://gw.example.com/xtrakit/api/v1/customer-groups"
        );
    }

    #[test]
    fn plain_http_to_a_remote_host_is_refused() {
        let err = check("http://api.xtrakit.com", false).err().unwrap();
        assert!(err.contains("allow_insecure_http"), "{err}");
    }

    #[test]
    fn plain_http_to_loopback_is_allowed() {
        for raw in [
            "http://localhost:8080",
            "http://127.0.0.5/",
            "http://[::1]:9000",
        ] {
            let b = check(raw, false).unwrap();
            assert!(b.warning.is_none(), "{raw}");
        }
    }

    #[test]
    fn allow_insecure_http_allows_remote_http_with_a_warning() {
        let b = check("http://api.xtrakit.com", true).unwrap();
        assert!(b.warning.is_some());
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_echoing_them() {
        let err = check("https://user:hunter2@api.xtrakit.com", false)
            .err()
            .unwrap();
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn other_schemes_and_garbage_are_refused() {
        assert!(check("ftp://api.xtrakit.com", true).is_err());
        assert!(check("api.xtrakit.com", false).is_err());
    }
}
