//! the README's Configuration section, "no input to the command line, the environment or the file may ever make
//! the program panic", through the real binary: `check-config` with random arguments, random
//! variables (`RUST_LOG` included, which only the binary reads) and a random config file.
//!
//! The library's property tests (`config::tests_props`) run many more cases of the same
//! inputs; this one proves the path through `main` (argument parsing, logging setup, the
//! report) with a modest count, as each case starts a process. `PROPTEST_CASES` raises it.

use std::process::{Command, Output};

use proptest::prelude::*;
use proptest::sample::select;

const ENV_NAMES: &[&str] = &[
    "XTRAKIT_SYNC_CONFIG",
    "XTRAKIT_DB",
    "XTRAKIT_BASE_URL",
    "XTRAKIT_API_KEY_FILE",
    "XTRAKIT_API_KEY",
    "XTRAKIT_BUSINESS_CODES",
    "XTRAKIT_SCHEDULE",
    "XTRAKIT_FULL_SYNC_SCHEDULE",
    "XTRAKIT_LOG_FORMAT",
    "CREDENTIALS_DIRECTORY",
    "RUST_LOG",
];

/// Flags that take a value, each followed by a random one.
const VALUE_FLAGS: &[&str] = &[
    "--config",
    "--db",
    "--base-url",
    "--api-key-file",
    "--business-code",
    "--schedule",
    "--full-sync-schedule",
    "--log-format",
];

/// Words that, alone or out of place, are usage errors or help.
const LONE_WORDS: &[&str] = &[
    "c.toml", "--once", "--full", "status", "--help", "--", "json",
];

const FILE_LINES: &[&str] = &[
    "lookback_days = 100000000",
    "lookback_days = 3650",
    "max_retries = -1",
    "max_pages = 0",
    "max_response_bytes = 99999999999999999999",
    "delete_guard_fraction = nan",
    "delete_guard_fraction = 0.5",
    "business_codes = [1, -2]",
    "business_codes = [3]",
    "schedule = \"61 * * * *\"",
    "log_format = \"json\"",
    "shedule = 1",
    "[table]",
];

/// `PROPTEST_CASES`, else a count that keeps this test to a few seconds.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|raw| raw.trim().parse().ok())
        .unwrap_or(24)
}

fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\u{0}]{0,16}",
        "[-0-9, .e]{0,12}",
        "[a-z=,:.*/_ ]{0,16}",
        "(https?|ftp)://[a-z0-9.:@\\[\\]-]{0,16}",
        select(vec![
            "",
            " ",
            "debug",
            "info,x=trace",
            "[{a}]",
            "=",
            "1,2",
            "\u{1b}[31m"
        ])
        .prop_map(str::to_owned),
    ]
}

/// Runs `check-config` in a fresh directory holding `config_text` as `c.toml`; also returns
/// the names in that directory afterwards.
fn check_config(
    args: &[String],
    env: &[(&str, String)],
    config_text: &str,
) -> (Output, Vec<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("c.toml"), config_text).expect("config written");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtrakit-sync"));
    cmd.env_clear()
        .current_dir(dir.path())
        .arg("check-config")
        .args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("binary runs");
    let names = std::fs::read_dir(dir.path())
        .map(|entries| {
            let names = entries.flatten().map(|e| e.file_name());
            names.map(|n| n.to_string_lossy().into_owned()).collect()
        })
        .unwrap_or_default();
    (out, names)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn check_config_with_any_arguments_environment_and_file_exits_0_or_2_never_panics(
        args in prop::collection::vec(
            prop_oneof![
                6 => (select(VALUE_FLAGS), odd_string()).prop_map(|(f, v)| vec![f.to_owned(), v]),
                1 => select(LONE_WORDS).prop_map(|w| vec![w.to_owned()]),
                1 => odd_string().prop_map(|v| vec![v]),
            ],
            0..4,
        ).prop_map(|args| args.concat()),
        env in prop::collection::vec(
            (select(ENV_NAMES), odd_string()),
            0..5,
        ),
        lines in prop::collection::vec(select(FILE_LINES), 0..3),
    ) {
        let (out, names) = check_config(&args, &env, &lines.join("\n"));
        prop_assert_eq!(names, vec!["c.toml".to_owned()], "check-config creates no file");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        prop_assert!(!stderr.contains("panicked"), "{}", stderr);
        let code = out.status.code();
        prop_assert!(code == Some(0) || code == Some(2), "exit {:?}: {}", code, stderr);
        if code == Some(2) {
            prop_assert_eq!(stderr.lines().count(), 1, "not one line: {}", stderr);
            prop_assert!(stderr.starts_with("xtrakit-sync: "), "{}", stderr);
        }
        if stdout.starts_with("# xtrakit-sync effective configuration") {
            let report = toml::from_str::<toml::Table>(&stdout);
            prop_assert!(report.is_ok(), "the report is TOML: {}", stdout);
        }
    }
}
