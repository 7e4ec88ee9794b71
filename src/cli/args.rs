//! The command line of the README's Configuration section.
//!
//! Clap parses flags only. Environment variables are read by `config::Settings::resolve`,
//! not by clap's `env` attribute, so precedence (flag > env > file > default) lives in one
//! place and tests never depend on the process environment. The variables are listed in
//! the help text instead.

use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

pub use super::flags::{CommonArgs, ScopeArgs, SyncArgs};
pub use super::state::{StateChange, StateCommand};
pub use crate::config::ConfigArgs;

const AFTER_HELP: &str = "\
Environment (a flag wins over its variable, a variable over the config file):
  XTRAKIT_SYNC_CONFIG, XTRAKIT_DB, XTRAKIT_BASE_URL, XTRAKIT_API_KEY_FILE,
  XTRAKIT_BUSINESS_CODES (\"1,2\"), XTRAKIT_SCHEDULE, XTRAKIT_FULL_SYNC_SCHEDULE (\"\" = off),
  XTRAKIT_LOG_FORMAT, RUST_LOG (log level, default info)
  XTRAKIT_API_KEY        the key itself (deliberately no flag: flags show in `ps`)
  CREDENTIALS_DIRECTORY  systemd LoadCredential=; the key is read from xtrakit-api-key

Exit codes: 0 success, 1 sync failed, 2 usage or configuration error, 3 authentication
rejected, 4 database unusable or locked, 5 database migrated by a newer version, 130 --once
interrupted";

#[derive(Debug, Parser)]
#[command(
    name = "xtrakit-sync",
    version,
    about = "Keeps a local SQLite database in step with the xtrakit customer-groups API",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// One sync of every scope, then exit.
    #[arg(long)]
    pub once: bool,
    /// With --once: a full run (no updated_at filter; deletions reconciled).
    #[arg(long, requires = "once")]
    pub full: bool,
    /// With --once: lift the mass-deletion guard for this run.
    #[arg(long, requires = "once")]
    pub allow_mass_delete: bool,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub sync: SyncArgs,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// The daemon: sync on schedule until SIGTERM/SIGINT (the default).
    Run {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        sync: SyncArgs,
    },
    /// Per scope: watermark, last success, last run; recent runs; row counts; health verdict.
    Status {
        /// Machine-readable output (with the health verdict of --check).
        #[arg(long)]
        json: bool,
        /// Health check: exit 1 with the reason on one line when a scope's last success is
        /// older than --max-age or it never succeeded.
        #[arg(long)]
        check: bool,
        /// The oldest last success --check accepts: 90m, 2h, 1d [default: 2h]
        #[arg(long, value_name = "AGE", value_parser = super::health::parse_max_age)]
        max_age: Option<Duration>,
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Create or upgrade the database, then exit.
    Migrate {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Print the effective configuration (key redacted); exit 2 when no key is found.
    CheckConfig {
        /// Also make one real request (first page of the first scope, no database write)
        /// and report reachability, TLS, the key's verdict, response shape and pagination.
        #[arg(long)]
        probe: bool,
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        sync: SyncArgs,
    },
    /// Each scope's watermark and last runs; `state reset` / `state set-watermark` change it.
    State {
        #[command(subcommand)]
        change: Option<StateCommand>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// The groups one run inserted, updated, deleted and restored (customer_group_history).
    Changes {
        /// The run's id (`sync_runs.id`, the `#N` of `status`).
        #[arg(long, value_name = "N")]
        run: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// What the invocation asks for, with the flag combinations already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Daemon,
    Once {
        full: bool,
        allow_mass_delete: bool,
    },
    Status {
        json: bool,
        check: bool,
        max_age: Duration,
    },
    Migrate,
    CheckConfig {
        probe: bool,
    },
    State {
        json: bool,
        change: Option<StateChange>,
    },
    Changes {
        run: i64,
        json: bool,
    },
}

impl Cli {
    /// Parses the process arguments. `--help` and `--version` print as clap prints them
    /// (exit 0); a usage error prints [`usage_error_line`] and exits 2.
    pub fn parse_args() -> Cli {
        match Cli::try_parse_args_from(std::env::args_os()) {
            Ok(cli) => cli,
            Err(e) if e.exit_code() == 0 => e.exit(),
            Err(e) => {
                eprintln!("{}", usage_error_line(&e));
                std::process::exit(i32::from(crate::outcome::Exit::Config.code()))
            }
        }
    }

    /// Parses and checks what clap's derive cannot express: `--once` belongs to the sync,
    /// so combining it with `status`, `migrate` or `check-config` is a usage error rather
    /// than a silently ignored flag.
    pub fn try_parse_args_from<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        let other = match &cli.command {
            Some(Command::Status { .. }) => Some("status"),
            Some(Command::Migrate { .. }) => Some("migrate"),
            Some(Command::CheckConfig { .. }) => Some("check-config"),
            Some(Command::State { .. }) => Some("state"),
            Some(Command::Changes { .. }) => Some("changes"),
            Some(Command::Run { .. }) | None => None,
        };
        if let (true, Some(name)) = (cli.once, other) {
            let message = format!("--once cannot be used with the `{name}` command");
            return Err(Cli::command().error(ErrorKind::ArgumentConflict, message));
        }
        Ok(cli)
    }

    pub fn action(&self) -> Action {
        match &self.command {
            _ if self.once => Action::Once {
                full: self.full,
                allow_mass_delete: self.allow_mass_delete,
            },
            None | Some(Command::Run { .. }) => Action::Daemon,
            Some(Command::Status {
                json,
                check,
                max_age,
                ..
            }) => Action::Status {
                json: *json,
                check: *check,
                max_age: max_age.unwrap_or(super::health::DEFAULT_MAX_AGE),
            },
            Some(Command::Migrate { .. }) => Action::Migrate,
            Some(Command::CheckConfig { probe, .. }) => Action::CheckConfig { probe: *probe },
            Some(Command::State { change, json, .. }) => Action::State {
                json: *json,
                change: change.as_ref().map(StateCommand::change),
            },
            Some(Command::Changes { run, json, .. }) => Action::Changes {
                run: *run,
                json: *json,
            },
        }
    }

    /// The setting flags of the subcommand merged over those given before it.
    pub fn config_args(&self) -> ConfigArgs {
        let base = match &self.command {
            None => ConfigArgs::default(),
            Some(Command::Run { common, sync } | Command::CheckConfig { common, sync, .. }) => {
                ConfigArgs::default().common(common).sync(sync)
            }
            Some(Command::Status { common, scope, .. }) => {
                ConfigArgs::default().common(common).scope(scope)
            }
            Some(Command::Migrate { common } | Command::Changes { common, .. }) => {
                ConfigArgs::default().common(common)
            }
            Some(Command::State { change, common, .. }) => {
                let nested = change.as_ref().map(StateCommand::common);
                let merged = ConfigArgs::default().common(nested.unwrap_or(common));
                merged.common(common)
            }
        };
        base.common(&self.common).sync(&self.sync)
    }
}

/// A usage error as one line, like every other problem the daemon reports: clap's message
/// and tip without its usage block, with where to look next. Line breaks (clap's, or one an
/// argument held) become spaces; other control characters are escaped.
pub fn usage_error_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let parts: Vec<&str> = rendered
        .split("\n\n")
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .filter(|part| !part.starts_with("Usage:") && !part.starts_with("For more information"))
        .collect();
    let sections: Vec<String> = parts
        .iter()
        .map(|part| part.lines().map(str::trim).collect::<Vec<_>>().join(" "))
        .collect();
    let joined = sections.join("; ");
    let problem = joined.strip_prefix("error: ").unwrap_or(&joined);
    let problem = crate::config::escape_controls(problem);
    format!("xtrakit-sync: usage error: {problem}; see xtrakit-sync --help")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_args_from(std::iter::once("xtrakit-sync").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_runs_the_daemon() {
        assert_eq!(parse(&[]).unwrap().action(), Action::Daemon);
        assert_eq!(parse(&["run"]).unwrap().action(), Action::Daemon);
    }

    #[test]
    fn once_with_full_and_mass_delete_is_a_one_shot_sync() {
        let cli = parse(&["--once", "--full", "--allow-mass-delete"]).unwrap();
        let expected = Action::Once {
            full: true,
            allow_mass_delete: true,
        };
        assert_eq!(cli.action(), expected);
    }

    #[test]
    fn full_or_allow_mass_delete_without_once_is_a_usage_error() {
        for flag in ["--full", "--allow-mass-delete"] {
            let err = parse(&[flag]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{flag}");
        }
    }

    #[test]
    fn once_with_another_command_is_a_usage_error() {
        for cmd in ["status", "migrate", "check-config"] {
            let err = parse(&["--once", cmd]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{cmd}");
        }
    }

    #[test]
    fn status_takes_json() {
        let cli = parse(&["status", "--json"]).unwrap();
        let expected = Action::Status {
            json: true,
            check: false,
            max_age: Duration::from_secs(7200),
        };
        assert_eq!(cli.action(), expected);
        let cli = parse(&["status", "--check", "--max-age", "90m"]).unwrap();
        let expected = Action::Status {
            json: false,
            check: true,
            max_age: Duration::from_secs(5400),
        };
        assert_eq!(cli.action(), expected);
        assert_eq!(
            parse(&["status", "--max-age", "soon"])
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn config_flags_work_before_and_after_the_subcommand() {
        let before = parse(&["--db", "a.db", "check-config"]).unwrap();
        let after = parse(&["check-config", "--db", "a.db"]).unwrap();
        assert_eq!(before.config_args().db, Some(PathBuf::from("a.db")));
        assert_eq!(after.config_args().db, Some(PathBuf::from("a.db")));
        assert_eq!(after.action(), Action::CheckConfig { probe: false });
        let probe = parse(&["check-config", "--probe"]).unwrap();
        assert_eq!(probe.action(), Action::CheckConfig { probe: true });
    }

    #[test]
    fn business_code_is_repeatable_and_comma_separated() {
        let cli = parse(&["--business-code", "1", "--business-code", "2,3"]).unwrap();
        assert_eq!(cli.config_args().business_codes, vec![1, 2, 3]);
        assert!(parse(&["--business-code", "x"]).is_err());
    }

    #[test]
    fn empty_full_sync_schedule_flag_is_accepted() {
        let cli = parse(&["--full-sync-schedule", ""]).unwrap();
        assert_eq!(cli.config_args().full_sync_schedule.as_deref(), Some(""));
    }

    #[test]
    fn there_is_no_flag_for_the_key_itself() {
        assert!(parse(&["--api-key", "secret"]).is_err());
    }

    #[test]
    fn log_format_flag_accepts_only_text_and_json() {
        assert!(parse(&["--log-format", "json"]).is_ok());
        assert_eq!(parse(&["--log-format", "xml"]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn usage_errors_are_one_line_naming_the_problem_and_pointing_at_help() {
        let cases: [&[&str]; 4] = [
            &["--no-such-flag"],
            &["--business-code", "x"],
            &["--log-format", "a\nb\n\nc"],
            &["--once", "status"],
        ];
        for args in cases {
            let line = usage_error_line(&parse(args).unwrap_err());
            assert!(!line.contains('\n'), "{args:?}: {line}");
            assert!(line.starts_with("xtrakit-sync: usage error: "), "{line}");
            assert!(line.ends_with("; see xtrakit-sync --help"), "{line}");
            assert!(!line.contains("Usage:"), "{line}");
        }
        let line = usage_error_line(&parse(&["--no-such-flag"]).unwrap_err());
        assert!(line.contains("'--no-such-flag'"), "{line}");
    }

    #[test]
    fn absent_flags_stay_unset() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.config_args(), ConfigArgs::default());
        assert!(cli.config_args().business_codes.is_empty());
    }
}
