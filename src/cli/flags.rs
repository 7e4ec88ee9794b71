//! The setting flags, grouped by the commands that use them, so each subcommand's `--help`
//! lists only its own: every command reads the config file and the database path; only the
//! sync (`run`, `--once`) and `check-config` take the API and schedule flags; `status` takes
//! the business codes whose health it judges.
//!
//! Flags given before the subcommand (`xtrakit-sync --db a.db status`) keep working: the
//! top-level groups are merged with the subcommand's, the subcommand's winning.

use std::path::PathBuf;

use clap::Args;

use crate::config::ConfigArgs;

/// What every command takes.
#[derive(Debug, Default, Clone, PartialEq, Eq, Args)]
pub struct CommonArgs {
    /// TOML configuration file [env: XTRAKIT_SYNC_CONFIG]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// SQLite database file [env: XTRAKIT_DB] [default: xtrakit.db]
    #[arg(long = "db", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Log output format [env: XTRAKIT_LOG_FORMAT] [default: text]
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

/// The business codes, for the sync and for `status --check`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Args)]
pub struct ScopeArgs {
    /// Only this business code; repeatable [env: XTRAKIT_BUSINESS_CODES]
    #[arg(long = "business-code", value_name = "N", value_delimiter = ',')]
    pub business_codes: Vec<i64>,
}

/// What only the sync (and `check-config`, which checks it) takes.
#[derive(Debug, Default, Clone, PartialEq, Eq, Args)]
pub struct SyncArgs {
    /// API base URL [env: XTRAKIT_BASE_URL] [default: https://api.xtrakit.com]
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// File holding the API key [env: XTRAKIT_API_KEY_FILE]
    #[arg(long, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Incremental sync schedule, 5- or 6-field cron, UTC [env: XTRAKIT_SCHEDULE]
    #[arg(long, value_name = "CRON")]
    pub schedule: Option<String>,
    /// Full sync schedule; "" turns it off [env: XTRAKIT_FULL_SYNC_SCHEDULE]
    #[arg(long, value_name = "CRON")]
    pub full_sync_schedule: Option<String>,
}

/// The merge lives here, next to the flag groups it reads, so `config` knows nothing of clap.
impl ConfigArgs {
    /// Adds the common flags; a flag already set (the subcommand's) wins.
    pub fn common(mut self, c: &CommonArgs) -> ConfigArgs {
        self.config = self.config.or_else(|| c.config.clone());
        self.db = self.db.or_else(|| c.db.clone());
        self.log_format = self.log_format.or_else(|| c.log_format.clone());
        self
    }

    /// Adds the business codes, unless some were already given.
    pub fn scope(mut self, s: &ScopeArgs) -> ConfigArgs {
        if self.business_codes.is_empty() {
            self.business_codes = s.business_codes.clone();
        }
        self
    }

    /// Adds the sync flags; a flag already set wins.
    pub fn sync(self, s: &SyncArgs) -> ConfigArgs {
        let mut merged = self.scope(&s.scope);
        merged.base_url = merged.base_url.or_else(|| s.base_url.clone());
        merged.api_key_file = merged.api_key_file.or_else(|| s.api_key_file.clone());
        merged.schedule = merged.schedule.or_else(|| s.schedule.clone());
        merged.full_sync_schedule = merged
            .full_sync_schedule
            .or_else(|| s.full_sync_schedule.clone());
        merged
    }
}
