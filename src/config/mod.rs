//! Settings, resolved once at start from (highest first) the command line, the environment,
//! the TOML file, and the defaults of the README's Configuration section.
//!
//! Resolution is a pure function of the parsed flags and an environment lookup
//! ([`Settings::resolve`]), so tests never read or mutate the real process environment.
//! Every setting remembers where it came from, because `check-config` must say so.

mod args;
mod base_url;
pub mod bounds;
mod file;
mod key;
mod network;
mod render;
mod resolve;
mod schedule;
#[cfg(test)]
mod tests_props;
#[cfg(test)]
mod tests_resolve;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::domain::ApiKey;

pub use args::ConfigArgs;
pub use key::reread as reread_key;
pub use network::Trust;
pub use schedule::CronSchedule;

/// The credential name the systemd units give the key (`LoadCredential=xtrakit-api-key:…`).
pub const CREDENTIAL_NAME: &str = "xtrakit-api-key";

/// Configuration errors: the process exits 2 on any of them. No variant ever carries the
/// key itself, only paths, setting names and the sources they came from. Each displays as
/// one line whatever the input held (see [`escape_controls`]).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read or parsed (unknown keys included).
    #[error(
        "config file {}: {}",
        escape_controls(&path.to_string_lossy()),
        escape_controls(message)
    )]
    File { path: PathBuf, message: String },
    /// A setting has a value the daemon cannot use.
    #[error("{key} ({origin}): {}", escape_controls(message))]
    Setting {
        key: &'static str,
        origin: Source,
        message: String,
    },
    /// A key file that was named explicitly is unusable.
    #[error(
        "API key file {} ({origin}): {}",
        escape_controls(&path.to_string_lossy()),
        escape_controls(message)
    )]
    KeyFile {
        path: PathBuf,
        origin: Source,
        message: String,
    },
    /// A sync (or `check-config`) was asked for, but no key is configured anywhere.
    /// `searched` lists every place looked at; outside the service, the systemd credential
    /// is invisible, which is the usual surprise, so the message says how to pass the file.
    #[error(
        "no API key found; looked at {}; set XTRAKIT_API_KEY or api_key_file (outside the \
         service, which gets the systemd credential {CREDENTIAL_NAME}, pass the key file: \
         sudo XTRAKIT_API_KEY_FILE=/etc/xtrakit-sync/api-key xtrakit-sync …)",
        escape_controls(searched)
    )]
    NoKey { searched: String },
}

/// `text` with line breaks and other control characters written as escapes (`\n`), so a
/// path or value holding one cannot split an error into lines: every problem is one line.
pub(crate) fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Where one effective setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    /// The command-line flag, e.g. `--db`.
    Flag(&'static str),
    /// The environment variable, e.g. `XTRAKIT_DB`.
    Env(&'static str),
    /// The TOML file at this path.
    File(PathBuf),
    /// `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`).
    Credentials,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Flag(name) => write!(f, "flag {name}"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::File(path) => {
                write!(f, "file {}", escape_controls(&path.to_string_lossy()))
            }
            Source::Credentials => f.write_str("credential $CREDENTIALS_DIRECTORY"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// Accepts exactly the spellings of the flag, the variable and the file (`text`, `json`).
    pub fn parse(raw: &str) -> Option<LogFormat> {
        match raw.trim() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// Where the API key came from, for `check-config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
    Credential(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env => f.write_str("env XTRAKIT_API_KEY"),
            KeySource::File(path) => write!(f, "file {}", path.display()),
            KeySource::Credential(path) => write!(f, "credential {}", path.display()),
        }
    }
}

/// The effective configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub database: crate::store::Location,
    /// Always ends in `/`, so `base_url.join("api/v1/customer-groups")` keeps a path prefix.
    pub base_url: Url,
    pub api_key: Option<(ApiKey, KeySource)>,
    /// Where the key was looked for and why each place gave none (see [`ConfigError::NoKey`]).
    pub key_searched: String,
    pub business_codes: Vec<i64>,
    pub schedule: CronSchedule,
    /// `None` when turned off with `""`.
    pub full_sync_schedule: Option<CronSchedule>,
    pub run_on_start: bool,
    pub lookback_days: u32,
    pub request_timeout: Duration,
    pub max_retries: u32,
    /// The first retry's backoff step (doubling, with jitter); tests and impatient users lower it.
    pub retry_base_delay: Duration,
    pub max_pages: u32,
    /// Pages of a page-numbered listing in flight at once.
    pub max_concurrent_requests: u32,
    pub max_response_bytes: u64,
    pub lock_wait: Duration,
    pub delete_guard_fraction: f64,
    pub history: bool,
    /// Days `sync_log` and `sync_runs` rows are kept.
    pub retention_days: u32,
    /// Days history rows are kept; `None` keeps them.
    pub history_retention_days: Option<u32>,
    pub allow_insecure_http: bool,
    /// The system trust store plus the CAs of `ca_file`.
    pub trust: Trust,
    /// The proxy variables that are set, credentials redacted, for `check-config`.
    pub proxy: Vec<String>,
    pub log_format: LogFormat,
    /// Where the daemon serves `/metrics` and `/healthz`; `None` (the default): nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// `/healthz` fails when a scope's last success is older than this.
    pub health_max_age: Duration,
    /// Warnings to log once logging is up (e.g. a key file readable by others).
    pub warnings: Vec<String>,
    /// The TOML file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Where each setting came from, by file key name; absent keys are defaults.
    pub sources: Vec<(&'static str, Source)>,
}

impl Settings {
    /// Resolves the settings from the process environment.
    pub fn load(args: &ConfigArgs) -> Result<Settings, ConfigError> {
        Settings::resolve(args, &|name| std::env::var(name).ok())
    }

    /// Resolves the settings with `env` standing in for the process environment
    /// (`CREDENTIALS_DIRECTORY` included), so callers and tests control every input.
    pub fn resolve(
        args: &ConfigArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        resolve::resolve(args, env)
    }

    /// The key, or the configuration error that a sync without one is.
    pub fn require_key(&self) -> Result<&ApiKey, ConfigError> {
        self.api_key
            .as_ref()
            .map(|(key, _)| key)
            .ok_or_else(|| ConfigError::NoKey {
                searched: self.key_searched.clone(),
            })
    }

    /// Where the setting with this file key came from.
    pub fn source_of(&self, key: &str) -> &Source {
        self.sources
            .iter()
            .find(|(name, _)| *name == key)
            .map_or(&Source::Default, |(_, source)| source)
    }

    /// The `check-config` report: every effective setting as TOML with its source as a
    /// comment, the key only as fingerprint.
    pub fn render(&self) -> String {
        render::render(self)
    }
}

#[cfg(test)]
pub(crate) mod test_env {
    use std::collections::HashMap;

    /// A fake environment holding exactly these variables.
    pub(crate) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::test_env::env_of;
    use super::*;

    #[test]
    fn require_key_without_a_key_explains_how_to_set_one() {
        let settings = Settings::resolve(&ConfigArgs::default(), &env_of(&[])).unwrap();
        let err = settings.require_key().unwrap_err().to_string();
        assert!(err.contains("XTRAKIT_API_KEY"), "{err}");
        assert!(err.contains("api_key_file"), "{err}");
    }

    #[test]
    fn debug_output_never_contains_the_key() {
        let env = env_of(&[("XTRAKIT_API_KEY", "zz-debug-secret-42")]);
        let settings = Settings::resolve(&ConfigArgs::default(), &env).unwrap();
        assert!(!format!("{settings:?}").contains("zz-debug-secret-42"));
        assert_eq!(
            settings.require_key().unwrap().expose(),
            "zz-debug-secret-42"
        );
    }

    #[test]
    fn metrics_are_off_by_default_and_health_allows_two_hours() {
        let settings = Settings::resolve(&ConfigArgs::default(), &env_of(&[])).unwrap();
        assert_eq!(settings.metrics_listen, None);
        assert_eq!(settings.health_max_age, Duration::from_secs(7200));
    }

    #[test]
    fn metrics_listen_takes_an_address_with_a_port_and_refuses_a_bare_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let args = ConfigArgs {
            config: Some(path.clone()),
            ..ConfigArgs::default()
        };
        std::fs::write(&path, "metrics_listen = \"[::1]:9187\"\n").unwrap();
        let settings = Settings::resolve(&args, &env_of(&[])).unwrap();
        assert_eq!(settings.metrics_listen, "[::1]:9187".parse().ok());
        assert!(settings
            .render()
            .contains("metrics_listen = \"[::1]:9187\""));

        std::fs::write(&path, "metrics_listen = \"localhost\"\n").unwrap();
        let err = Settings::resolve(&args, &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("metrics_listen (file "), "{err}");
        assert!(err.contains("like 127.0.0.1:9187"), "{err}");
    }

    #[test]
    fn log_format_accepts_only_text_and_json() {
        assert_eq!(LogFormat::parse("json"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("text"), Some(LogFormat::Text));
        assert_eq!(LogFormat::parse("yaml"), None);
    }
}
