//! How the daemon reaches the API: which certificates it trusts (the system store, plus the
//! CAs of `ca_file`) and which proxy the environment names. Both are shown by
//! `check-config`; a proxy's credentials never are.

use std::path::{Path, PathBuf};

use reqwest::{Certificate, Url};

/// The variables reqwest reads for its proxy, in the order `check-config` lists them.
const PROXY_VARIABLES: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The roots the HTTP client trusts beyond the system store.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// The `ca_file` setting, when one is set.
    pub ca_file: Option<PathBuf>,
    /// Every certificate that file holds, already parsed: a bad file is a config error.
    pub ca_certs: Vec<Certificate>,
}

impl Trust {
    /// Reads and parses `path` (one or more PEM certificates); the error is the message of
    /// a `ca_file` setting error.
    pub(super) fn from_ca_file(path: &Path) -> Result<Trust, String> {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let certs = Certificate::from_pem_bundle(&pem).map_err(|_| {
            format!(
                "{} is not a PEM certificate file (expected -----BEGIN CERTIFICATE----- blocks)",
                path.display()
            )
        })?;
        if certs.is_empty() {
            return Err(format!(
                "{} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)",
                path.display()
            ));
        }
        Ok(Trust {
            ca_file: Some(path.to_owned()),
            ca_certs: certs,
        })
    }

    /// The trust source in words, for `check-config`.
    pub fn describe(&self) -> String {
        let system = "the system trust store (SSL_CERT_FILE and SSL_CERT_DIR honoured)";
        match &self.ca_file {
            Some(path) => format!(
                "{system} plus {} certificate(s) from ca_file {}",
                self.ca_certs.len(),
                path.display()
            ),
            None => system.to_owned(),
        }
    }
}

/// The proxy variables that are set, each as `NAME=value` with any user name and password
/// in the value replaced by `***`.
pub(super) fn proxy_variables(env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    PROXY_VARIABLES
        .iter()
        .filter_map(|name| {
            let value = env(name).filter(|v| !v.trim().is_empty())?;
            let shown = if name.eq_ignore_ascii_case("NO_PROXY") {
                value
            } else {
                redact_proxy(&value)
            };
            Some(format!("{name}={shown}"))
        })
        .collect()
}

/// A warning for each proxy this build cannot use (SOCKS).
pub(super) fn proxy_warnings(env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    PROXY_VARIABLES[..6]
        .iter()
        .filter_map(|name| {
            let value = env(name)?;
            value
                .trim()
                .to_ascii_lowercase()
                .starts_with("socks")
                .then(|| {
                    format!(
                        "{name} names a SOCKS proxy, which xtrakit-sync does not support; \
                         use an HTTP proxy (http://host:port)"
                    )
                })
        })
        .collect()
}

/// The proxy URL without its credentials; text that is not a URL is not shown at all,
/// since it may be a password typed in the wrong place.
fn redact_proxy(value: &str) -> String {
    let trimmed = value.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("http://{trimmed}")
    };
    match Url::parse(&with_scheme) {
        Ok(mut url) => {
            if !url.username().is_empty() || url.password().is_some() {
                let _ = url.set_username("***");
                let _ = url.set_password(None);
            }
            url.to_string()
        }
        Err(_) => "(set, but not a URL; not shown)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_env::env_of;

    #[test]
    fn proxy_credentials_are_never_shown() {
        let env = env_of(&[
            ("HTTPS_PROXY", "http://alice:s3cret-pw@proxy.corp:3128"),
            ("NO_PROXY", "localhost,.corp"),
        ]);
        let shown = proxy_variables(&env).join(" ");
        assert!(
            !shown.contains("s3cret-pw") && !shown.contains("alice"),
            "{shown}"
        );
        assert!(
            shown.contains("HTTPS_PROXY=http://***@proxy.corp:3128/"),
            "{shown}"
        );
        assert!(shown.contains("NO_PROXY=localhost,.corp"), "{shown}");
    }

    #[test]
    fn a_proxy_without_a_scheme_is_read_as_http_and_garbage_is_hidden() {
        assert_eq!(redact_proxy("proxy:8080"), "http://proxy:8080/");
        assert_eq!(
            redact_proxy("::not a url::"),
            "(set, but not a URL; not shown)"
        );
    }

    #[test]
    fn a_socks_proxy_is_warned_about() {
        let env = env_of(&[("ALL_PROXY", "socks5://proxy:1080")]);
        let warnings = proxy_warnings(&env);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("SOCKS"), "{warnings:?}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = Trust::from_ca_file(&path).unwrap_err();
        assert!(err.contains("PEM"), "{err}");
        let missing = Trust::from_ca_file(&dir.path().join("none.pem")).unwrap_err();
        assert!(missing.contains("cannot read"), "{missing}");
    }
}
