//! Tests of the whole resolution: layers, validation with sources, and the report.

use std::path::{Path, PathBuf};

use super::test_env::env_of;
use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn with_config(path: &Path) -> ConfigArgs {
    ConfigArgs {
        config: Some(path.to_owned()),
        ..ConfigArgs::default()
    }
}

fn resolve(args: &ConfigArgs, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::resolve(args, &env_of(env))
}

#[test]
fn defaults_follow_the_spec() {
    let s = resolve(&ConfigArgs::default(), &[]).unwrap();
    assert_eq!(
        s.database,
        crate::store::Location::Sqlite(PathBuf::from("xtrakit.db"))
    );
    assert_eq!(s.base_url.as_str(), "https://api.xtrakit.com/");
    assert_eq!(s.schedule.six_field, "0 */15 * * * *");
    assert_eq!(
        s.full_sync_schedule.as_ref().unwrap().six_field,
        "0 30 3 * * SUN"
    );
    assert_eq!(
        (s.lookback_days, s.max_retries, s.max_pages),
        (1, 5, 10_000)
    );
    assert_eq!(s.request_timeout.as_secs(), 60);
    assert_eq!(s.lock_wait.as_secs(), 60);
    assert_eq!(s.max_response_bytes, 67_108_864);
    assert_eq!(s.delete_guard_fraction, 0.5);
    assert!(s.run_on_start && s.history && !s.allow_insecure_http);
    assert_eq!(s.log_format, LogFormat::Text);
    assert!(s.business_codes.is_empty() && s.api_key.is_none());
    assert_eq!(s.source_of("database"), &Source::Default);
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "c.toml",
        "database = \"file.db\"\nlog_format = \"json\"\n",
    );
    let env = [
        ("XTRAKIT_DB", "env.db"),
        ("XTRAKIT_SCHEDULE", "*/5 * * * *"),
    ];
    let mut args = with_config(&cfg);
    args.db = Some(PathBuf::from("flag.db"));
    let s = resolve(&args, &env).unwrap();
    assert_eq!(
        s.database,
        crate::store::Location::Sqlite(PathBuf::from("flag.db"))
    );
    assert_eq!(s.source_of("database"), &Source::Flag("--db"));
    assert_eq!(s.schedule.six_field, "0 */5 * * * *");
    assert_eq!(s.source_of("schedule"), &Source::Env("XTRAKIT_SCHEDULE"));
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.source_of("log_format"), &Source::File(cfg.clone()));
    assert_eq!(s.source_of("max_pages"), &Source::Default);

    let s = resolve(&with_config(&cfg), &env).unwrap();
    assert_eq!(
        s.database,
        crate::store::Location::Sqlite(PathBuf::from("env.db"))
    );
}

#[test]
fn config_file_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", "max_pages = 7\n");
    let s = resolve(
        &ConfigArgs::default(),
        &[("XTRAKIT_SYNC_CONFIG", cfg.to_str().unwrap())],
    )
    .unwrap();
    assert_eq!(s.max_pages, 7);
    assert_eq!(s.config_file, Some(cfg));
}

#[test]
fn blank_environment_variables_count_as_unset() {
    let s = resolve(
        &ConfigArgs::default(),
        &[("XTRAKIT_DB", ""), ("XTRAKIT_API_KEY", " ")],
    )
    .unwrap();
    assert_eq!(
        s.database,
        crate::store::Location::Sqlite(PathBuf::from("xtrakit.db"))
    );
    assert!(s.api_key.is_none());
}

#[test]
fn unknown_file_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", "max_page = 3\n");
    let err = resolve(&with_config(&cfg), &[]).unwrap_err().to_string();
    assert!(err.contains("max_page"), "{err}");
    assert!(err.contains(cfg.to_str().unwrap()), "{err}");
}

#[test]
fn explicit_missing_config_file_is_rejected() {
    let args = with_config(Path::new("/nonexistent/xtrakit-sync.toml"));
    assert!(matches!(resolve(&args, &[]), Err(ConfigError::File { .. })));
    let env = [("XTRAKIT_SYNC_CONFIG", "/nonexistent/xtrakit-sync.toml")];
    assert!(resolve(&ConfigArgs::default(), &env).is_err());
}

#[test]
fn http_base_url_is_refused_naming_its_source() {
    let env = [("XTRAKIT_BASE_URL", "http://api.xtrakit.com")];
    let err = resolve(&ConfigArgs::default(), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("base_url"), "{err}");
    assert!(err.contains("env XTRAKIT_BASE_URL"), "{err}");
}

#[test]
fn loopback_http_base_url_is_allowed() {
    let args = ConfigArgs {
        base_url: Some("http://127.0.0.1:8080/prefix".to_owned()),
        ..ConfigArgs::default()
    };
    let s = resolve(&args, &[]).unwrap();
    assert_eq!(s.base_url.as_str(), "http://127.0.0.1:8080/prefix/");
    assert_eq!(s.warnings.len(), 1, "only the path prefix is warned about");
    assert!(s.warnings[0].contains("has a path"), "{:?}", s.warnings);
}

#[test]
fn allow_insecure_http_allows_remote_http() {
    let dir = tempfile::tempdir().unwrap();
    let text = "base_url = \"http://xtrakit.internal\"\nallow_insecure_http = true\n";
    let cfg = write(dir.path(), "c.toml", text);
    let s = resolve(&with_config(&cfg), &[]).unwrap();
    assert_eq!(s.base_url.scheme(), "http");
    assert_eq!(s.warnings.len(), 1);
}

#[test]
fn five_and_six_field_schedules_are_accepted() {
    let args = ConfigArgs {
        schedule: Some("0 * * * *".to_owned()),
        full_sync_schedule: Some("15 0 2 * * MON".to_owned()),
        ..ConfigArgs::default()
    };
    let s = resolve(&args, &[]).unwrap();
    assert_eq!(s.schedule.six_field, "0 0 * * * *");
    assert_eq!(s.full_sync_schedule.unwrap().six_field, "15 0 2 * * MON");
}

#[test]
fn garbage_schedule_is_rejected_naming_setting_and_source() {
    let args = ConfigArgs {
        schedule: Some("every 5 minutes".to_owned()),
        ..ConfigArgs::default()
    };
    let err = resolve(&args, &[]).unwrap_err().to_string();
    assert!(err.contains("schedule (flag --schedule)"), "{err}");
}

#[test]
fn empty_full_sync_schedule_turns_full_runs_off() {
    let env = [("XTRAKIT_FULL_SYNC_SCHEDULE", "")];
    let s = resolve(&ConfigArgs::default(), &env).unwrap();
    assert!(s.full_sync_schedule.is_none());

    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", "full_sync_schedule = \"\"\n");
    assert!(resolve(&with_config(&cfg), &[])
        .unwrap()
        .full_sync_schedule
        .is_none());
}

#[test]
fn empty_schedule_is_an_error() {
    let args = ConfigArgs {
        schedule: Some(String::new()),
        ..ConfigArgs::default()
    };
    assert!(resolve(&args, &[]).is_err());
}

#[test]
fn business_codes_come_from_env_with_spaces() {
    let env = [("XTRAKIT_BUSINESS_CODES", "1, 2,")];
    let s = resolve(&ConfigArgs::default(), &env).unwrap();
    assert_eq!(s.business_codes, vec![1, 2]);
}

#[test]
fn non_integer_business_code_is_rejected() {
    let env = [("XTRAKIT_BUSINESS_CODES", "1,x")];
    let err = resolve(&ConfigArgs::default(), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("XTRAKIT_BUSINESS_CODES") && err.contains("\"x\""),
        "{err}"
    );
}

#[test]
fn business_code_flags_beat_the_environment() {
    let args = ConfigArgs {
        business_codes: vec![7],
        ..ConfigArgs::default()
    };
    let s = resolve(&args, &[("XTRAKIT_BUSINESS_CODES", "1,2")]).unwrap();
    assert_eq!(s.business_codes, vec![7]);
}

#[test]
fn out_of_range_numbers_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for text in [
        "delete_guard_fraction = 1.5",
        "delete_guard_fraction = nan",
        "lookback_days = -1",
        "request_timeout_secs = 0",
        "max_pages = 0",
        "max_response_bytes = 1000",
        "max_retries = 5000000000",
        "lookback_days = 100000000",
        "delete_guard_fraction = inf",
        "delete_guard_fraction = -inf",
        "business_codes = [1, -2]",
    ] {
        let cfg = write(dir.path(), "c.toml", text);
        let err = resolve(&with_config(&cfg), &[]).unwrap_err().to_string();
        let key = text.split(' ').next().unwrap();
        assert!(err.starts_with(key), "{text}: {err}");
    }
}

#[test]
fn each_numeric_bound_is_inclusive_and_named_with_its_range_and_file() {
    let dir = tempfile::tempdir().unwrap();
    for b in bounds::ALL {
        let value = |n: i64| match b.key {
            "business_codes" => format!("[{n}]"),
            _ => n.to_string(),
        };
        for n in [b.min, b.max] {
            let cfg = write(dir.path(), "c.toml", &format!("{} = {}", b.key, value(n)));
            assert!(resolve(&with_config(&cfg), &[]).is_ok(), "{} = {n}", b.key);
        }
        for n in [b.min - 1, b.max + 1] {
            let cfg = write(dir.path(), "c.toml", &format!("{} = {}", b.key, value(n)));
            let err = resolve(&with_config(&cfg), &[]).unwrap_err().to_string();
            let expected = format!("{} (file {})", b.key, cfg.display());
            assert!(err.starts_with(&expected), "{err}");
            let range = format!("between {} and {}, got {n}", b.min, b.max);
            assert!(err.contains(&range), "{err}");
        }
    }
}

#[test]
fn huge_lookback_days_is_a_config_error_naming_key_range_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", "lookback_days = 100000000\n");
    let err = resolve(&with_config(&cfg), &[]).unwrap_err().to_string();
    let expected = format!(
        "lookback_days (file {}): must be between 0 and 3650, got 100000000",
        cfg.display()
    );
    assert_eq!(err, expected);
}

#[test]
fn out_of_range_business_codes_are_refused_from_flag_env_and_file_naming_the_source() {
    let args = ConfigArgs {
        business_codes: vec![3, -1],
        ..ConfigArgs::default()
    };
    let err = resolve(&args, &[]).unwrap_err().to_string();
    assert!(
        err.starts_with("business_codes (flag --business-code): each code must be between 0"),
        "{err}"
    );
    let env = [("XTRAKIT_BUSINESS_CODES", "1,3000000000")];
    let err = resolve(&ConfigArgs::default(), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("business_codes (env XTRAKIT_BUSINESS_CODES)"),
        "{err}"
    );
    assert!(err.contains("2147483647, got 3000000000"), "{err}");
}

#[test]
fn bad_log_format_is_rejected() {
    let env = [("XTRAKIT_LOG_FORMAT", "yaml")];
    assert!(resolve(&ConfigArgs::default(), &env).is_err());
}

#[test]
fn credentials_directory_is_the_key_fallback() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), CREDENTIAL_NAME, "cred-key\n");
    let env = [("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap())];
    let s = resolve(&ConfigArgs::default(), &env).unwrap();
    assert_eq!(s.require_key().unwrap().expose(), "cred-key");
    assert_eq!(s.source_of("api_key_file"), &Source::Credentials);
}

#[test]
fn config_file_key_file_is_used_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "key", "\n file-key \n");
    let text = format!("api_key_file = {:?}\n", key.to_str().unwrap());
    let cfg = write(dir.path(), "c.toml", &text);
    let s = resolve(&with_config(&cfg), &[]).unwrap();
    assert_eq!(s.require_key().unwrap().expose(), "file-key");
    assert_eq!(s.api_key.unwrap().1, KeySource::File(key));
}

#[test]
fn render_never_contains_the_key_but_shows_its_fingerprint() {
    let secret = "zz-render-secret-9f8e7d";
    let s = resolve(&ConfigArgs::default(), &[("XTRAKIT_API_KEY", secret)]).unwrap();
    let out = s.render();
    assert!(!out.contains(secret), "{out}");
    let fingerprint = s.require_key().unwrap().fingerprint();
    let expected = format!("# api key: {fingerprint} (from env XTRAKIT_API_KEY)");
    assert!(out.contains(&expected), "{out}");
}

#[test]
fn render_without_a_key_says_none() {
    let out = resolve(&ConfigArgs::default(), &[]).unwrap().render();
    assert!(out.contains("# api key: none"), "{out}");
}

#[test]
fn render_names_each_source() {
    let args = ConfigArgs {
        db: Some(PathBuf::from("/tmp/x.db")),
        ..ConfigArgs::default()
    };
    let env = [("XTRAKIT_LOG_FORMAT", "json")];
    let out = resolve(&args, &env).unwrap().render();
    let line = |key: &str| out.lines().find(|l| l.starts_with(key)).unwrap().to_owned();
    assert!(line("database =").ends_with("# flag --db"), "{out}");
    assert!(
        line("log_format =").ends_with("# env XTRAKIT_LOG_FORMAT"),
        "{out}"
    );
    assert!(line("max_pages =").ends_with("# default"), "{out}");
}

#[test]
fn render_is_toml_that_loads_back_as_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "key", "k");
    let env = [
        ("XTRAKIT_API_KEY_FILE", key.to_str().unwrap()),
        ("XTRAKIT_BUSINESS_CODES", "3,4"),
        ("XTRAKIT_FULL_SYNC_SCHEDULE", ""),
    ];
    let first = resolve(&ConfigArgs::default(), &env).unwrap();
    let cfg = write(dir.path(), "rendered.toml", &first.render());
    let again = resolve(&with_config(&cfg), &[]).unwrap();
    assert_eq!(again.business_codes, vec![3, 4]);
    assert!(again.full_sync_schedule.is_none());
    assert_eq!(again.api_key, first.api_key);
    assert_eq!(again.base_url, first.base_url);
    assert_eq!(again.delete_guard_fraction, first.delete_guard_fraction);
}
