//! Connection failures that asking again cannot fix: a certificate this host does not
//! trust, and a proxy that wants credentials. Both are found in the cause chain of
//! reqwest's error and told in words, not in rustls' variant names.

use std::error::Error;

use rustls::CertificateError;

use super::error::ApiError;

/// hyper-util's text for a CONNECT answered with 407; it has no public type to match.
const PROXY_AUTH_REQUIRED: &str = "proxy authorization required";

/// The permanent failure `err` (one link of a cause chain) stands for, if it is one.
pub(super) fn permanent(err: &(dyn Error + 'static)) -> Option<ApiError> {
    if let Some(rustls::Error::InvalidCertificate(cert)) = rustls_error(err) {
        return Some(ApiError::Certificate(certificate_words(cert).to_owned()));
    }
    err.to_string()
        .ends_with(PROXY_AUTH_REQUIRED)
        .then_some(ApiError::ProxyAuth)
}

/// rustls reaches us wrapped in an `io::Error` (maybe more than one), whose `source`
/// skips the wrapped error: the wrappers are opened here.
fn rustls_error<'a>(mut err: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        err = err.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

fn certificate_words(cert: &CertificateError) -> &'static str {
    match cert {
        CertificateError::UnknownIssuer => {
            "the server's certificate is issued by a CA this host does not trust"
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "the server's certificate is not valid for the host name in base_url"
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired (or this host's clock is ahead)"
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (or this host's clock is behind)"
        }
        CertificateError::Revoked => "the server's certificate has been revoked",
        _ => "the server's certificate is invalid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_issuer_inside_an_io_error_is_a_certificate_failure() {
        let inner = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner);
        let found = permanent(&io);
        assert!(
            matches!(&found, Some(ApiError::Certificate(text)) if text.contains("does not trust")),
            "{found:?}"
        );
    }

    #[test]
    fn other_errors_are_not_permanent() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(permanent(&io).is_none());
    }
}
