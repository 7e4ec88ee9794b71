//! xtrakit-sync keeps a local SQLite database in step with the xtrakit customer-groups API.
//!
//! One module per concern; `main.rs` only wires them together.
//!
//! - [`config`]: settings from flags, environment, TOML file and defaults.
//! - [`cli`]: the command line (clap) and the commands it dispatches to.
//! - [`domain`]: newtypes shared by every layer (API key, scope, watermark, run labels).
//! - [`api`]: the HTTP client and the tolerant parsing of the API's responses.
//! - [`store`]: the SQLite database: pool, migrations, upserts, run log, status queries.
//! - [`sync`]: one sync run of one scope, and a sync of every scope under the lock.
//! - [`lock`]: the cross-process lock that serialises syncs of one database.
//! - [`outcome`]: how a run's result maps to exit codes and `sync_log` events.
//! - [`daemon`]: scheduled ticks, signals and systemd notification.
//! - [`telemetry`]: logging setup.

pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod lock;
pub mod outcome;
pub mod store;
pub mod sync;
pub mod telemetry;
#[cfg(test)]
mod test_support;
