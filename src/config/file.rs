//! The TOML configuration file. Every key is optional; a key the daemon does not know is an
//! error rather than silently ignored, because a misspelt `shedule` would otherwise leave
//! the default in force without anyone noticing.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{bounds, escape_controls, ConfigError};

/// The file's keys, exactly the "file key" column of the README's Configuration section. Numbers are read as
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
    pub max_concurrent_requests: Option<i64>,
    pub max_response_bytes: Option<i64>,
    pub lock_wait_secs: Option<i64>,
    pub delete_guard_fraction: Option<f64>,
    pub history: Option<bool>,
    pub retention_days: Option<i64>,
    pub history_retention_days: Option<i64>,
    pub allow_insecure_http: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub log_format: Option<String>,
    pub metrics_listen: Option<String>,
    pub health_max_age_secs: Option<i64>,
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
/// `api_key = "…"`, and the key must never reach an error message. What it adds instead is
/// the setting's name (read back from a bare `key =` before the error, never the value) and,
/// for a numeric setting, its allowed range, so a number too large for TOML or a string
/// where a number belongs says which key and what it accepts.
pub(super) fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let mut message = plain_types(&one_line(e.message()));
        if let Some(span) = e.span() {
            let before = text.get(..span.start).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            message = match setting_before(before) {
                Some(key) => match bounds::allowed(key) {
                    Some(allowed) => format!("line {line}, {key}: {message} ({allowed})"),
                    None => format!("line {line}, {key}: {message}"),
                },
                None => format!("line {line}: {message}"),
            };
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

/// toml's message on one line (some run over two, some are empty).
fn one_line(message: &str) -> String {
    let parts: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect();
    if parts.is_empty() {
        return "not valid TOML".to_owned();
    }
    escape_controls(&parts.join("; "))
}

/// serde's "invalid type: string \"5\", expected i64" in plain words: "expected a whole
/// number, got the string \"5\"". Rust type names mean nothing to an operator.
fn plain_types(message: &str) -> String {
    let Some(rest) = message.strip_prefix("invalid type: ") else {
        return message.to_owned();
    };
    let Some((got, expected)) = rest.rsplit_once(", expected ") else {
        return message.to_owned();
    };
    let expected = match expected {
        "i64" | "u64" | "i32" | "u32" => "a whole number",
        "f64" => "a number",
        "a boolean" => "true or false",
        "a string" => "a quoted string",
        "a sequence" => "a list in brackets, like [1, 2]",
        other => other,
    };
    let got = match got.split_once(' ') {
        Some((kind, value)) => {
            let value = value.trim_start_matches("point ").trim_matches('`');
            match kind {
                "string" => format!("the string {value}"),
                "integer" => format!("the whole number {value}"),
                "floating" => format!("the number {value}"),
                "boolean" => value.to_owned(),
                _ => got.to_owned(),
            }
        }
        None => match got {
            "sequence" => "a list".to_owned(),
            "map" => "a table".to_owned(),
            other => other.to_owned(),
        },
    };
    format!("expected {expected}, got {got}")
}

/// The bare key of `key = …` when the error lies after it on the same line.
fn setting_before(before: &str) -> Option<&str> {
    let line = before.rsplit('\n').next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let bare = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    (!key.is_empty() && key.chars().all(bare)).then_some(key)
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
            retention_days = 90
            history_retention_days = 365
            allow_insecure_http = false
            ca_file = "/etc/xtrakit-sync/company-ca.pem"
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
    fn a_number_too_large_for_toml_names_the_key_and_its_range() {
        let err = parse("lookback_days = 99999999999999999999\n", path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1, lookback_days:") && err.contains("between 0 and 3650"),
            "{err}"
        );
    }

    #[test]
    fn a_string_where_a_number_belongs_names_the_key() {
        let err = parse("max_pages = \"10\"\n", path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1, max_pages: expected a whole number, got the string \"10\""),
            "{err}"
        );
        let err = parse("business_codes = [1, \"x\"]\n", path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1, business_codes: expected a whole number, got the string"),
            "{err}"
        );
    }

    #[test]
    fn wrong_types_are_named_in_plain_words() {
        let cases = [
            (
                "history = 1\n",
                "history: expected true or false, got the whole number 1",
            ),
            (
                "base_url = 5\n",
                "base_url: expected a quoted string, got the whole number 5",
            ),
            (
                "business_codes = 5\n",
                "business_codes: expected a list in brackets",
            ),
            (
                "delete_guard_fraction = \"x\"\n",
                "delete_guard_fraction: expected a number, got the string \"x\"",
            ),
            (
                "max_retries = 1.5\n",
                "max_retries: expected a whole number, got the number 1.5",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text, path()).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(!err.contains("i64") && !err.contains("f64"), "{err}");
        }
    }

    #[test]
    fn syntax_errors_are_one_line_and_never_empty() {
        for text in ["[a", "x = ", "a = \"\n", "= 1"] {
            let err = parse(text, path()).unwrap_err().to_string();
            assert!(
                !err.contains('\n') && !err.ends_with(": "),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn explicit_missing_config_file_is_rejected() {
        let err = read(Path::new("/nonexistent/xtrakit.toml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/xtrakit.toml"));
    }
}
