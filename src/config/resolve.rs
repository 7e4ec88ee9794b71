//! Merging the four layers (flag > env > file > default) into [`Settings`], recording the
//! source of every setting and validating each value with that source in the message.

use crate::store::Location;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::bounds::{self, Bound};
use super::file::{self, FileConfig};
use super::key::{self, KeyCandidates};
use super::network::{self, Trust};
use super::ConfigArgs;
use super::{base_url, ConfigError, CronSchedule, LogFormat, Settings, Source};

/// the README's defaults.
const DEFAULT_DATABASE: &str = "xtrakit.db";
const DEFAULT_BASE_URL: &str = "https://api.xtrakit.com";
const DEFAULT_SCHEDULE: &str = "0 */15 * * * *";
const DEFAULT_FULL_SYNC_SCHEDULE: &str = "0 30 3 * * SUN";

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One candidate value and where it came from.
type Candidate<T> = Option<(T, Source)>;

struct Layers<'a> {
    args: &'a ConfigArgs,
    env: Env<'a>,
    file: FileConfig,
    file_source: Source,
    config_file: Option<PathBuf>,
    sources: Vec<(&'static str, Source)>,
}

pub(super) fn resolve(args: &ConfigArgs, env: Env<'_>) -> Result<Settings, ConfigError> {
    let mut l = Layers::open(args, env)?;
    let mut warnings = Vec::new();
    let database = l.database()?;
    let allow_insecure_http = l.plain("allow_insecure_http", l.file.allow_insecure_http, false);
    let base_url = l.base_url(allow_insecure_http, &mut warnings)?;
    let business_codes = l.business_codes()?;
    let (schedule, full_sync_schedule) = l.schedules()?;
    let log_format = l.log_format()?;
    let (api_key, key_searched) = l.api_key(&mut warnings)?;
    let trust = l.trust()?;
    warnings.extend(network::proxy_warnings(env));
    Ok(Settings {
        database,
        base_url,
        api_key,
        key_searched,
        business_codes,
        schedule,
        full_sync_schedule,
        run_on_start: l.plain("run_on_start", l.file.run_on_start, true),
        lookback_days: l.bounded(bounds::LOOKBACK_DAYS, l.file.lookback_days, 1)?,
        request_timeout: Duration::from_secs(l.bounded(
            bounds::REQUEST_TIMEOUT_SECS,
            l.file.request_timeout_secs,
            60,
        )?),
        max_retries: l.bounded(bounds::MAX_RETRIES, l.file.max_retries, 5)?,
        retry_base_delay: Duration::from_millis(l.bounded(
            bounds::RETRY_BASE_DELAY_MS,
            l.file.retry_base_delay_ms,
            1000,
        )?),
        max_pages: l.bounded(bounds::MAX_PAGES, l.file.max_pages, 10_000)?,
        max_concurrent_requests: l.bounded(
            bounds::MAX_CONCURRENT_REQUESTS,
            l.file.max_concurrent_requests,
            4,
        )?,
        max_response_bytes: l.bounded(
            bounds::MAX_RESPONSE_BYTES,
            l.file.max_response_bytes,
            67_108_864,
        )?,
        lock_wait: Duration::from_secs(l.bounded(
            bounds::LOCK_WAIT_SECS,
            l.file.lock_wait_secs,
            60,
        )?),
        delete_guard_fraction: l.fraction()?,
        history: l.plain("history", l.file.history, true),
        retention_days: l.bounded(bounds::RETENTION_DAYS, l.file.retention_days, 180)?,
        history_retention_days: l.optional(
            bounds::HISTORY_RETENTION_DAYS,
            l.file.history_retention_days,
        )?,
        allow_insecure_http,
        trust,
        proxy: network::proxy_variables(env),
        log_format,
        metrics_listen: l.metrics_listen()?,
        health_max_age: Duration::from_secs(l.bounded(
            bounds::HEALTH_MAX_AGE_SECS,
            l.file.health_max_age_secs,
            7200,
        )?),
        warnings,
        config_file: l.config_file,
        sources: l.sources,
    })
}

/// The variable's value, or `None` when unset or blank: `XTRAKIT_DB=` in a unit file or a
/// shell means "not set", not "the empty path".
fn non_blank(env: Env<'_>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

impl<'a> Layers<'a> {
    /// Reads the TOML file named by `--config` or `XTRAKIT_SYNC_CONFIG`; none named, none read.
    fn open(args: &'a ConfigArgs, env: Env<'a>) -> Result<Layers<'a>, ConfigError> {
        let config_file = args
            .config
            .clone()
            .or_else(|| non_blank(env, "XTRAKIT_SYNC_CONFIG").map(PathBuf::from));
        let file = match &config_file {
            Some(path) => file::read(path)?,
            None => FileConfig::default(),
        };
        Ok(Layers {
            args,
            env,
            file,
            file_source: config_file.clone().map_or(Source::Default, Source::File),
            config_file,
            sources: Vec::new(),
        })
    }

    /// Takes the first candidate (flag, env, file order) or the default, and records its
    /// source under `key`.
    fn choose<T>(&mut self, key: &'static str, candidates: [Candidate<T>; 3], default: T) -> T {
        let (value, source) = candidates
            .into_iter()
            .flatten()
            .next()
            .unwrap_or((default, Source::Default));
        self.sources.push((key, source));
        value
    }

    fn flag<T>(value: Option<T>, name: &'static str) -> Candidate<T> {
        value.map(|v| (v, Source::Flag(name)))
    }

    fn env_str(&self, name: &'static str) -> Candidate<String> {
        non_blank(self.env, name).map(|v| (v, Source::Env(name)))
    }

    fn in_file<T>(&self, value: Option<T>) -> Candidate<T> {
        value.map(|v| (v, self.file_source.clone()))
    }

    fn error(&self, key: &'static str, message: String) -> ConfigError {
        let origin = self
            .sources
            .iter()
            .rev()
            .find(|(name, _)| *name == key)
            .map_or(Source::Default, |(_, source)| source.clone());
        ConfigError::Setting {
            key,
            origin,
            message,
        }
    }

    /// A file-only setting with no further validation.
    fn plain<T>(&mut self, key: &'static str, file_value: Option<T>, default: T) -> T {
        let in_file = self.in_file(file_value);
        self.choose(key, [None, None, in_file], default)
    }

    /// A file-only integer within `bound` (the README's Configuration section), converted to the type it is kept in.
    fn bounded<T: TryFrom<i64>>(
        &mut self,
        bound: Bound,
        file_value: Option<i64>,
        default: i64,
    ) -> Result<T, ConfigError> {
        let value = self.plain(bound.key, file_value, default);
        if let Some(message) = bound.violation(value) {
            return Err(self.error(bound.key, message));
        }
        T::try_from(value).map_err(|_| self.error(bound.key, format!("{value} is too large")))
    }

    /// A file-only integer within `bound` that has no default: unset stays `None`.
    fn optional(
        &mut self,
        bound: Bound,
        file_value: Option<i64>,
    ) -> Result<Option<u32>, ConfigError> {
        match file_value {
            Some(value) => self.bounded(bound, Some(value), value).map(Some),
            None => Ok(None),
        }
    }

    fn fraction(&mut self) -> Result<f64, ConfigError> {
        let key = "delete_guard_fraction";
        let value = self.plain(key, self.file.delete_guard_fraction, 0.5);
        match bounds::fraction_violation(value) {
            Some(message) => Err(self.error(key, message)),
            None => Ok(value),
        }
    }

    /// A SQLite path, or a `postgres://` URL (never with a password in it).
    fn database(&mut self) -> Result<Location, ConfigError> {
        let flag = Self::flag(self.args.db.clone(), "--db");
        let env = self
            .env_str("XTRAKIT_DB")
            .map(|(v, s)| (PathBuf::from(v), s));
        let in_file = self.in_file(self.file.database.clone());
        let chosen = self.choose("database", [flag, env, in_file], DEFAULT_DATABASE.into());
        match chosen.to_str() {
            Some(text) => Location::parse(text).map_err(|e| self.error("database", e.to_string())),
            None => Ok(Location::Sqlite(chosen)),
        }
    }

    fn base_url(
        &mut self,
        allow_insecure_http: bool,
        warnings: &mut Vec<String>,
    ) -> Result<reqwest::Url, ConfigError> {
        let flag = Self::flag(self.args.base_url.clone(), "--base-url");
        let env = self.env_str("XTRAKIT_BASE_URL");
        let in_file = self.in_file(self.file.base_url.clone());
        let raw = self.choose("base_url", [flag, env, in_file], DEFAULT_BASE_URL.into());
        let checked = base_url::check(&raw, allow_insecure_http)
            .map_err(|message| self.error("base_url", message))?;
        warnings.extend(checked.warnings);
        Ok(checked.url)
    }
}

impl Layers<'_> {
    fn business_codes(&mut self) -> Result<Vec<i64>, ConfigError> {
        let args = &self.args.business_codes;
        let flag = Self::flag((!args.is_empty()).then(|| args.clone()), "--business-code");
        let env = match self.env_str("XTRAKIT_BUSINESS_CODES") {
            Some((raw, source)) => Some((
                parse_codes(&raw).map_err(|message| ConfigError::Setting {
                    key: "business_codes",
                    origin: source.clone(),
                    message,
                })?,
                source,
            )),
            None => None,
        };
        let in_file = self.in_file(self.file.business_codes.clone());
        let codes = self.choose("business_codes", [flag, env, in_file], Vec::new());
        let bound = bounds::BUSINESS_CODE;
        match codes.iter().find_map(|&code| bound.violation(code)) {
            Some(message) => Err(self.error(bound.key, format!("each code {message}"))),
            None => Ok(codes),
        }
    }

    fn schedules(&mut self) -> Result<(CronSchedule, Option<CronSchedule>), ConfigError> {
        let flag = Self::flag(self.args.schedule.clone(), "--schedule");
        let env = self.env_str("XTRAKIT_SCHEDULE");
        let in_file = self.in_file(self.file.schedule.clone());
        let raw = self.choose("schedule", [flag, env, in_file], DEFAULT_SCHEDULE.into());
        let schedule = CronSchedule::parse(&raw).map_err(|message| {
            let hint = if raw.trim().is_empty() {
                " (only full_sync_schedule can be turned off with \"\")"
            } else {
                ""
            };
            self.error("schedule", format!("{message}{hint}"))
        })?;

        let key = "full_sync_schedule";
        let flag = Self::flag(self.args.full_sync_schedule.clone(), "--full-sync-schedule");
        // Unlike other variables, an empty value here is meaningful: it turns full runs off.
        let env_name = "XTRAKIT_FULL_SYNC_SCHEDULE";
        let env = (self.env)(env_name).map(|v| (v, Source::Env(env_name)));
        let in_file = self.in_file(self.file.full_sync_schedule.clone());
        let raw = self.choose(key, [flag, env, in_file], DEFAULT_FULL_SYNC_SCHEDULE.into());
        if raw.trim().is_empty() {
            return Ok((schedule, None));
        }
        let full = CronSchedule::parse(&raw).map_err(|message| self.error(key, message))?;
        Ok((schedule, Some(full)))
    }

    /// `ca_file`: read and parsed now, so a bad file stops the start (exit 2), not a run.
    fn trust(&mut self) -> Result<Trust, ConfigError> {
        let Some((path, source)) = self.in_file(self.file.ca_file.clone()) else {
            return Ok(Trust::default());
        };
        self.sources.push(("ca_file", source));
        Trust::from_ca_file(&path).map_err(|message| self.error("ca_file", message))
    }

    fn log_format(&mut self) -> Result<LogFormat, ConfigError> {
        let flag = Self::flag(self.args.log_format.clone(), "--log-format");
        let env = self.env_str("XTRAKIT_LOG_FORMAT");
        let in_file = self.in_file(self.file.log_format.clone());
        let raw = self.choose("log_format", [flag, env, in_file], "text".into());
        LogFormat::parse(&raw)
            .ok_or_else(|| self.error("log_format", format!("must be text or json, got {raw:?}")))
    }

    /// `metrics_listen`: an address and port (`127.0.0.1:9187`, `[::1]:9187`), or `""`: off.
    fn metrics_listen(&mut self) -> Result<Option<SocketAddr>, ConfigError> {
        let key = "metrics_listen";
        let raw = self.plain(key, self.file.metrics_listen.clone(), String::new());
        if raw.trim().is_empty() {
            return Ok(None);
        }
        raw.trim().parse().map(Some).map_err(|_| {
            let message = format!("must be an address and port like 127.0.0.1:9187, got {raw:?}");
            self.error(key, message)
        })
    }

    fn api_key(
        &mut self,
        warnings: &mut Vec<String>,
    ) -> Result<(Option<(crate::domain::ApiKey, super::KeySource)>, String), ConfigError> {
        let candidates = KeyCandidates {
            flag_file: self.args.api_key_file.clone(),
            env_key: (self.env)("XTRAKIT_API_KEY"),
            env_file: non_blank(self.env, "XTRAKIT_API_KEY_FILE").map(PathBuf::from),
            config_file: self
                .file
                .api_key_file
                .clone()
                .map(|path| (path, self.file_source.clone())),
            credentials_dir: non_blank(self.env, "CREDENTIALS_DIRECTORY").map(PathBuf::from),
        };
        let searched = key::searched(&candidates, self.config_file.as_deref());
        let Some(found) = key::resolve(candidates)? else {
            return Ok((None, searched));
        };
        if let Some(origin) = found.file_origin {
            self.sources.push(("api_key_file", origin));
        }
        warnings.extend(found.warning);
        Ok((Some((found.key, found.source)), searched))
    }
}

/// `XTRAKIT_BUSINESS_CODES`: comma separated integers, spaces and a trailing comma tolerated.
fn parse_codes(raw: &str) -> Result<Vec<i64>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<i64>()
                .map_err(|_| format!("{item:?} is not an integer business code"))
        })
        .collect()
}
