//! Property tests of the README's promise that no input to the command line, the
//! environment or the file may make the program panic: random inputs go through the very
//! functions the binary calls (`Cli::try_parse_args_from`, `Settings::resolve`), and every
//! outcome must be either settings within their bounds or a one-line error.
//!
//! CI runs a few hundred cases per test; `PROPTEST_CASES=100000 cargo test --lib
//! config::tests_props` runs more. A failure is shrunk to a minimal input by proptest.

use std::path::Path;

use proptest::prelude::*;
use proptest::sample::select;
use toml::Value;

use super::bounds::{self, Bound};
use super::test_env::env_of;
use super::{ConfigError, Settings};
use crate::cli::args::{usage_error_line, Cli};
use crate::test_support::proptest_cases;

/// Every key of the TOML file.
const FILE_KEYS: &[&str] = &[
    "database",
    "base_url",
    "api_key_file",
    "business_codes",
    "schedule",
    "full_sync_schedule",
    "run_on_start",
    "lookback_days",
    "request_timeout_secs",
    "max_retries",
    "retry_base_delay_ms",
    "max_pages",
    "max_concurrent_requests",
    "max_response_bytes",
    "lock_wait_secs",
    "delete_guard_fraction",
    "history",
    "retention_days",
    "history_retention_days",
    "allow_insecure_http",
    "ca_file",
    "log_format",
    "metrics_listen",
    "health_max_age_secs",
];

/// Every variable the configuration reads, but `XTRAKIT_SYNC_CONFIG` (see [`env_name`]).
const ENV_NAMES: &[&str] = &[
    "XTRAKIT_DB",
    "XTRAKIT_BASE_URL",
    "XTRAKIT_API_KEY_FILE",
    "XTRAKIT_API_KEY",
    "XTRAKIT_BUSINESS_CODES",
    "XTRAKIT_SCHEDULE",
    "XTRAKIT_FULL_SYNC_SCHEDULE",
    "XTRAKIT_LOG_FORMAT",
    "CREDENTIALS_DIRECTORY",
];

/// A variable's name; the config file's variable is rarer, as it usually ends the test early
/// (a random path names no file).
fn env_name() -> impl Strategy<Value = &'static str> {
    prop_oneof![9 => select(ENV_NAMES), 1 => Just("XTRAKIT_SYNC_CONFIG")]
}

/// Every flag and command word, so random command lines are mostly near-valid ones.
const ARG_WORDS: &[&str] = &[
    "--once",
    "--full",
    "--allow-mass-delete",
    "--config",
    "--db",
    "--base-url",
    "--api-key-file",
    "--business-code",
    "--schedule",
    "--full-sync-schedule",
    "--log-format",
    "run",
    "status",
    "--json",
    "migrate",
    "check-config",
    "--help",
    "--version",
    "-h",
    "--",
    "json",
    "text",
    "",
];

/// Integers at and next to every bound, and the extremes.
fn edge_integer() -> impl Strategy<Value = i64> {
    let edges: Vec<i64> = bounds::ALL
        .iter()
        .flat_map(|b| [b.min - 1, b.min, b.max, b.max + 1])
        .chain([i64::MIN, i64::MAX, -1, 0, 1])
        .collect();
    prop_oneof![select(edges), any::<i64>(), -5i64..5_000]
}

/// Strings a careless or hostile operator might type: numbers, crons, URLs, control
/// characters, anything at all.
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        edge_integer().prop_map(|n| n.to_string()),
        "[-0-9, .e]{0,24}",
        "[0-9*/,?LW#A-Z-]{1,5}( [0-9*/,?LW#A-Z-]{1,5}){0,7}",
        "(https?|ftp|)://[a-z0-9.:@\\[\\]%-]{0,24}(/[a-z?#]{0,6})?",
        "[ \t\r\n\u{0}\u{1b}a-z/.]{0,12}",
        select(vec![
            "", " ", "nan", "inf", "-0", "1e309", "text", "json", "@daily"
        ])
        .prop_map(str::to_owned),
    ]
}

/// Any TOML value, nested a little.
fn toml_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        edge_integer().prop_map(Value::Integer),
        any::<f64>().prop_map(Value::Float),
        select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.5,
            1.0
        ])
        .prop_map(Value::Float),
        any::<bool>().prop_map(Value::Boolean),
        odd_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
}

/// A file of known keys (and sometimes unknown ones) with random values.
fn structured_file() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        4 => select(FILE_KEYS).prop_map(str::to_owned),
        1 => "[a-z_]{1,14}",
    ];
    prop::collection::btree_map(key, toml_value(), 0..8).prop_map(|map| {
        let table: toml::Table = map.into_iter().collect();
        toml::to_string(&table).unwrap_or_default()
    })
}

/// A value of the type `key` takes, at or near its bounds, or now and then any value at all.
fn value_for(key: &'static str) -> BoxedStrategy<Value> {
    let typed = match key {
        "delete_guard_fraction" => prop_oneof![
            any::<f64>(),
            select(vec![f64::NAN, f64::INFINITY, -0.0, 0.0, 0.5, 1.0, 1.0001]),
        ]
        .prop_map(Value::Float)
        .boxed(),
        "business_codes" => prop::collection::vec(edge_integer().prop_map(Value::Integer), 0..4)
            .prop_map(Value::Array)
            .boxed(),
        "run_on_start" | "history" | "allow_insecure_http" => {
            any::<bool>().prop_map(Value::Boolean).boxed()
        }
        _ if bounds::allowed(key).is_some() => edge_integer().prop_map(Value::Integer).boxed(),
        _ => prop_oneof![
            2 => Just(plausible(key).to_owned()),
            1 => odd_string(),
        ]
        .prop_map(Value::String)
        .boxed(),
    };
    prop_oneof![9 => typed, 1 => toml_value()].boxed()
}

/// A valid value of a text setting, so that later checks are reached too.
fn plausible(key: &str) -> &'static str {
    match key {
        "base_url" => "http://127.0.0.1:9/prefix",
        "schedule" | "full_sync_schedule" => "*/5 * * * *",
        "log_format" => "json",
        "metrics_listen" => "127.0.0.1:0",
        "api_key_file" => "/nonexistent/key",
        "ca_file" => "/nonexistent/ca.pem",
        _ => "xtrakit.db",
    }
}

/// A file of known keys, each with a value mostly of the right type, so that resolution
/// reaches the bounds and the checks after parsing.
fn well_typed_file() -> impl Strategy<Value = String> {
    let entries = FILE_KEYS.iter().map(|&key| {
        prop::option::weighted(0.3, value_for(key)).prop_map(move |v| v.map(|v| (key, v)))
    });
    entries.collect::<Vec<_>>().prop_map(|entries| {
        let table: toml::Table = entries
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        toml::to_string(&table).unwrap_or_default()
    })
}

/// Line-shaped text: `key = anything`, which is mostly not TOML and sometimes is.
fn line_file() -> impl Strategy<Value = String> {
    let line = (select(FILE_KEYS), "[^\n]{0,24}").prop_map(|(k, v)| format!("{k} = {v}"));
    prop::collection::vec(line, 0..6).prop_map(|lines| lines.join("\n"))
}

fn check_bound(b: Bound, value: i64) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        b.violation(value),
        None,
        "{} = {} was accepted",
        b.key,
        value
    );
    Ok(())
}

/// Settings that loaded lie within every bound and render as TOML; an error is one line
/// that starts with the setting it is about.
fn assert_sound(result: Result<Settings, ConfigError>) -> Result<(), TestCaseError> {
    let s = match result {
        Err(e) => {
            let line = e.to_string();
            prop_assert!(!line.trim().is_empty());
            prop_assert!(!line.contains(['\n', '\r']), "not one line: {}", line);
            if let ConfigError::Setting { key, .. } = &e {
                prop_assert!(line.starts_with(key), "{}", line);
            }
            return Ok(());
        }
        Ok(s) => s,
    };
    check_bound(bounds::LOOKBACK_DAYS, s.lookback_days.into())?;
    check_bound(bounds::MAX_RETRIES, s.max_retries.into())?;
    check_bound(bounds::MAX_PAGES, s.max_pages.into())?;
    check_bound(
        bounds::MAX_CONCURRENT_REQUESTS,
        s.max_concurrent_requests.into(),
    )?;
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    check_bound(bounds::REQUEST_TIMEOUT_SECS, secs(s.request_timeout))?;
    check_bound(bounds::LOCK_WAIT_SECS, secs(s.lock_wait))?;
    let millis = i64::try_from(s.retry_base_delay.as_millis()).unwrap_or(i64::MAX);
    check_bound(bounds::RETRY_BASE_DELAY_MS, millis)?;
    let bytes = i64::try_from(s.max_response_bytes).unwrap_or(i64::MAX);
    check_bound(bounds::MAX_RESPONSE_BYTES, bytes)?;
    for code in &s.business_codes {
        check_bound(bounds::BUSINESS_CODE, *code)?;
    }
    prop_assert_eq!(bounds::fraction_violation(s.delete_guard_fraction), None);
    let rendered = s.render();
    prop_assert!(
        toml::from_str::<toml::Table>(&rendered).is_ok(),
        "{}",
        rendered
    );
    Ok(())
}

fn load_file(path: &Path, text: &str) -> Result<(), TestCaseError> {
    std::fs::write(path, text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let args = crate::config::ConfigArgs {
        config: Some(path.to_owned()),
        ..Default::default()
    };
    assert_sound(Settings::resolve(&args, &env_of(&[])))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(proptest_cases(256)))]

    #[test]
    fn any_text_as_the_config_file_loads_or_is_a_one_line_error(
        text in prop_oneof![any::<String>(), line_file()],
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        load_file(&dir.path().join("c.toml"), &text)?;
    }

    #[test]
    fn any_value_for_any_file_key_loads_within_bounds_or_is_a_one_line_error(
        text in prop_oneof![structured_file(), well_typed_file()],
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        load_file(&dir.path().join("c.toml"), &text)?;
    }

    #[test]
    fn any_environment_loads_within_bounds_or_is_a_one_line_error(
        vars in prop::collection::vec((env_name(), odd_string()), 0..8),
    ) {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let args = crate::config::ConfigArgs::default();
        assert_sound(Settings::resolve(&args, &env_of(&pairs)))?;
    }

    #[test]
    fn any_command_line_parses_and_loads_or_is_a_one_line_exit_2_error(
        words in prop::collection::vec(
            prop_oneof![3 => select(ARG_WORDS).prop_map(str::to_owned), 2 => odd_string()],
            0..8,
        ),
    ) {
        let argv = std::iter::once("xtrakit-sync".to_owned()).chain(words);
        match Cli::try_parse_args_from(argv) {
            Ok(cli) => {
                let _ = cli.action();
                assert_sound(Settings::resolve(&cli.config_args(), &env_of(&[])))?;
            }
            Err(e) if e.exit_code() == 0 => {}
            Err(e) => {
                prop_assert_eq!(e.exit_code(), 2);
                let line = usage_error_line(&e);
                prop_assert!(!line.contains(['\n', '\r']), "not one line: {}", line);
            }
        }
    }
}
