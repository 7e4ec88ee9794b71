//! The settings the command line gave, already merged across the flag groups by `cli`.
//! Defined here, not in `cli`, because resolution reads them and `config` must not depend
//! on the command line parser.

use std::path::PathBuf;

/// Settings that may be given on the command line, merged. All optional with no clap
/// defaults: an absent flag must fall through to the environment, the file, then the default.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConfigArgs {
    pub config: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub base_url: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub business_codes: Vec<i64>,
    pub schedule: Option<String>,
    pub full_sync_schedule: Option<String>,
    pub log_format: Option<String>,
}
