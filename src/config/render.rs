//! The `check-config` report. It is valid TOML using the file's key names, so an operator
//! can paste it into a config file; sources and the key's fingerprint ride in comments.

use std::fmt::Write as _;
use std::path::Path;

use toml::Value;

use super::{KeySource, Settings, Source};

/// Comments start in this column, so sources line up for the usual short values.
const COMMENT_COLUMN: usize = 44;

pub(super) fn render(s: &Settings) -> String {
    let mut out = String::from("# xtrakit-sync effective configuration\n");
    match &s.config_file {
        Some(path) => line_comment(&mut out, &format!("config file: {}", path.display())),
        None => line_comment(&mut out, "config file: none"),
    }
    for (key, value) in values(s) {
        setting_line(&mut out, key, &value, s.source_of(key));
    }
    if let Some(path) = key_file(s) {
        let key = "api_key_file";
        setting_line(&mut out, key, &path_value(path), s.source_of(key));
    }
    match s.history_retention_days {
        Some(days) => {
            let key = "history_retention_days";
            setting_line(
                &mut out,
                key,
                &Value::Integer(days.into()),
                s.source_of(key),
            );
        }
        None => line_comment(&mut out, "history_retention_days: not set, history is kept"),
    }
    if let Some(path) = &s.trust.ca_file {
        setting_line(
            &mut out,
            "ca_file",
            &path_value(path),
            s.source_of("ca_file"),
        );
    }
    line_comment(&mut out, &format!("trust: {}", s.trust.describe()));
    match s.proxy.is_empty() {
        true => line_comment(
            &mut out,
            "proxy: none (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY unset)",
        ),
        false => line_comment(&mut out, &format!("proxy: {}", s.proxy.join(" "))),
    }
    match &s.api_key {
        Some((key, source)) => line_comment(
            &mut out,
            &format!("api key: {} (from {source})", key.fingerprint()),
        ),
        None => line_comment(&mut out, "api key: none"),
    }
    for warning in &s.warnings {
        line_comment(&mut out, &format!("warning: {warning}"));
    }
    out
}

/// Every setting except the key file, in the order of the README's configuration table.
fn values(s: &Settings) -> Vec<(&'static str, Value)> {
    let int = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    let codes = s
        .business_codes
        .iter()
        .map(|c| Value::Integer(*c))
        .collect();
    let full = s
        .full_sync_schedule
        .as_ref()
        .map_or_else(String::new, |c| c.original.clone());
    vec![
        ("database", Value::String(s.database.to_string())),
        ("base_url", Value::String(s.base_url.to_string())),
        ("business_codes", Value::Array(codes)),
        ("schedule", Value::String(s.schedule.original.clone())),
        ("full_sync_schedule", Value::String(full)),
        ("run_on_start", Value::Boolean(s.run_on_start)),
        ("lookback_days", int(s.lookback_days.into())),
        ("request_timeout_secs", int(s.request_timeout.as_secs())),
        ("max_retries", int(s.max_retries.into())),
        (
            "retry_base_delay_ms",
            int(s.retry_base_delay.as_millis() as u64),
        ),
        ("max_pages", int(s.max_pages.into())),
        (
            "max_concurrent_requests",
            int(s.max_concurrent_requests.into()),
        ),
        ("max_response_bytes", int(s.max_response_bytes)),
        ("lock_wait_secs", int(s.lock_wait.as_secs())),
        (
            "delete_guard_fraction",
            Value::Float(s.delete_guard_fraction),
        ),
        ("history", Value::Boolean(s.history)),
        ("retention_days", int(s.retention_days.into())),
        ("allow_insecure_http", Value::Boolean(s.allow_insecure_http)),
        (
            "log_format",
            Value::String(s.log_format.as_str().to_owned()),
        ),
        (
            "metrics_listen",
            Value::String(s.metrics_listen.map_or_else(String::new, |a| a.to_string())),
        ),
        ("health_max_age_secs", int(s.health_max_age.as_secs())),
    ]
}

fn key_file(s: &Settings) -> Option<&Path> {
    match &s.api_key {
        Some((_, KeySource::File(path) | KeySource::Credential(path))) => Some(path),
        _ => None,
    }
}

fn path_value(path: &Path) -> Value {
    Value::String(path.to_string_lossy().into_owned())
}

/// `key = value`, then the source as a comment (newlines in a path cannot break the line).
fn setting_line(out: &mut String, key: &str, value: &Value, source: &Source) {
    let setting = format!("{key} = {value}");
    let pad = COMMENT_COLUMN.saturating_sub(setting.len()).max(1);
    let source = source.to_string().replace(['\n', '\r'], " ");
    let _ = writeln!(out, "{setting}{:pad$}# {source}", "");
}

/// Writes `text` as one comment line, whatever newlines it holds.
fn line_comment(out: &mut String, text: &str) {
    let _ = writeln!(out, "# {}", text.replace(['\n', '\r'], " "));
}
