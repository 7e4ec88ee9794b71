//! The `base_url` rules of the README: the key travels in a header, so plain http is
//! only acceptable where nobody can listen in (loopback) or when the operator says so.

use std::net::IpAddr;

use reqwest::Url;

use crate::api::client::ENDPOINT;

/// The checked URL, plus warnings: plain http allowed for a non-loopback host, or a path
/// prefix (which is kept, so the warning shows the URL requests will really go to).
pub(super) struct BaseUrl {
    pub url: Url,
    pub warnings: Vec<String>,
}

/// Errors are plain messages; the caller adds the setting name and its source.
pub(super) fn check(raw: &str, allow_insecure_http: bool) -> Result<BaseUrl, String> {
    let raw = raw.trim();
    // Without `://`, `url` reads "host:8080" as scheme "host" and "host" as relative:
    // both messages would miss the point.
    if !raw.contains("://") {
        return Err(format!(
            "{raw} has no scheme; write it with one, like https://{raw}"
        ));
    }
    let mut url = Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
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
    let mut warnings: Vec<String> = warning.into_iter().collect();
    if url.path() != "/" {
        warnings.push(path_prefix(&url)?);
    }
    Ok(BaseUrl { url, warnings })
}

/// A path in `base_url` is kept as a prefix (a gateway's, say). The API's own path in it is
/// the usual mistake, and would double (`/api/v1/api/v1/…`): refused, naming the fix.
/// Any other prefix is a warning that shows the URL requests will go to.
fn path_prefix(url: &Url) -> Result<String, String> {
    let endpoint = url
        .join(ENDPOINT)
        .map_err(|e| format!("{url} cannot carry the endpoint path: {e}"))?;
    let path = url.path().trim_end_matches('/');
    if path.ends_with("/api/v1") || path.ends_with("/customer-groups") || path.ends_with("/api") {
        let mut root = url.clone();
        root.set_path("/");
        return Err(format!(
            "{url} ends in the API's own path, which is added to base_url, so requests \
             would go to {endpoint}; use the root, like {root}"
        ));
    }
    Ok(format!(
        "base_url {url} has a path; it is kept as a prefix, so requests go to {endpoint}"
    ))
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
        assert!(b.warnings.is_empty());
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
            assert!(b.warnings.is_empty(), "{raw}");
        }
    }

    #[test]
    fn allow_insecure_http_allows_remote_http_with_a_warning() {
        let b = check("http://api.xtrakit.com", true).unwrap();
        assert_eq!(b.warnings.len(), 1);
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

    #[test]
    fn a_url_without_scheme_says_so_and_shows_the_fix() {
        for raw in ["api.xtrakit.com", "localhost:8080", "127.0.0.1:8080/x"] {
            let err = check(raw, false).err().unwrap();
            assert!(err.contains("has no scheme"), "{err}");
            assert!(err.contains(&format!("https://{raw}")), "{err}");
        }
    }

    #[test]
    fn the_apis_own_path_in_base_url_is_refused_with_the_doubled_url_and_the_root() {
        for raw in [
            "http://localhost:8080/api/v1",
            "https://api.xtrakit.com/api/v1/",
            "https://api.xtrakit.com/api/v1/customer-groups",
        ] {
            let err = check(raw, false).err().unwrap();
            assert!(
                err.contains("/api/v1/api/v1/customer-groups")
                    || err.contains("customer-groups/api/v1/customer-groups"),
                "{err}"
            );
            assert!(err.contains("use the root"), "{err}");
        }
    }

    #[test]
    fn another_path_prefix_is_kept_with_a_warning_showing_the_real_url() {
        let b = check("https://gw.example.com/xtrakit", false).unwrap();
        assert_eq!(
            b.warnings,
            vec![
                "base_url https://gw.example.com/xtrakit/ has a path; it is kept as a \
                  prefix, so requests go to https://gw.example.com/xtrakit/api/v1/customer-groups"
                    .to_owned()
            ]
        );
    }
}
