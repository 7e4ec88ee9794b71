//! The TOML configuration file. Every key is optional; a key the daemon does not know is an
//! error rather than silently ignored, because a misspelt `shedule` would otherwise leave
//! the default in force without anyone noticing.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// The file's keys, exactly the "file key" column of SPEC section 3. Numbers are read as
/// `i64` so that range errors come from our validation, with our wording.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub database: Option<PathBuf>,
    pub base_url: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub business_codes: Option<Vec<i64>>,
    pub schedule: Option<String>,
    pub full_sync_schedule: Option<String>,
    pub run_on_start: Option<bool>,
    pub lookback_days: Option<i64>,
    pub request_timeout_secs: Option<i64>,
    pub max_retries: Option<i64>,
    pub retry_base_delay_ms: Option<i64>,
    pub max_pages: Option<i64>,
    pub max_response_bytes: Option<i64>,
    pub lock_wait_secs: Option<i64>,
    pub delete_guard_fraction: Option<f64>,
    pub history: Option<bool>,
    pub allow_insecure_http: Option<bool>,
    pub log_format: Option<String>,
}

/// Reads and parses the file; a file that was asked for and is missing is an error.
pub(super) fn read(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_owned(),
        message: format!("cannot read: {e}"),
    })?;
    parse(&text, path)
}

/// Parses file text. The error keeps toml's message and a line number but not toml's
/// default rendering, which quotes the offending source line: that line could be
/// `api_key = "…"`, and the key must never reach an error message.
pub(super) fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let mut message = e.message().to_owned();
        if let Some(span) = e.span() {
            let line = text
                .get(..span.start)
                .map_or(1, |before| before.matches('\n').count() + 1);
            message = format!("line {line}: {message}");
        }
        if message.contains("unknown field `api_key`") {
            message.push_str(
                " (the key itself never goes in the file: use api_key_file or XTRAKIT_API_KEY)",
            );
        }
        ConfigError::File {
            path: path.to_owned(),
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("/etc/xtrakit-sync/config.toml")
    }

    #[test]
    fn every_spec_key_is_accepted() {
        let text = r#"
            database = "/var/lib/xtrakit-sync/xtrakit.db"
            base_url = "https://api.xtrakit.com"
            api_key_file = "/etc/xtrakit-sync/key"
            business_codes = [1, 2]
            schedule = "*/5 * * * *"
            full_sync_schedule = ""
            run_on_start = false
            lookback_days = 2
            request_timeout_secs = 30
            max_retries = 3
            max_pages = 100
            max_response_bytes = 1048576
            lock_wait_secs = 10
            delete_guard_fraction = 1
            history = false
            allow_insecure_http = false
            log_format = "json"
        "#;
        let file = parse(text, path()).unwrap();
        assert_eq!(file.business_codes, Some(vec![1, 2]));
        assert_eq!(file.delete_guard_fraction, Some(1.0));
    }

    #[test]
    fn unknown_file_key_is_rejected_naming_key_and_file() {
        let err = parse("database = \"a.db\"\nshedule = \"* * * * *\"\n", path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("shedule"), "{err}");
        assert!(err.contains("/etc/xtrakit-sync/config.toml"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn a_key_written_into_the_file_is_not_echoed() {
        let err = parse("api_key = \"zz-file-secret-77\"\n", path())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("zz-file-secret-77"), "{err}");
        assert!(err.contains("api_key_file"), "{err}");
    }

    #[test]
    fn explicit_missing_config_file_is_rejected() {
        let err = read(Path::new("/nonexistent/xtrakit.toml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/xtrakit.toml"));
    }
}
