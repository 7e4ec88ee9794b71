//! xtrakit-sync keeps a local SQLite database in step with the xtrakit customer-groups API.
//!
//! One module per concern; `main.rs` only wires them together.
//!
//! - [`config`]: settings from flags, environment, TOML file and defaults.
//! - [`cli`]: the command line (clap) and the commands it dispatches to.
//! - [`domain`]: newtypes shared by every layer (API key, scope, watermark, run labels).
//! - [`api`]: the HTTP client and the tolerant parsing of the API's responses.
//! - [`store`]: the SQLite database: pool, migrations, upserts, run log, status queries.
//! - [`startup`]: builds the client and the database a sync needs, for `--once` and the daemon.
//! - [`sync`]: one sync run of one scope, and a sync of every scope under the lock.
//! - [`lock`]: the cross-process lock that serialises syncs of one database.
//! - [`outcome`]: how a run's result and a startup error map to the one [`outcome::Exit`] and
//!   `sync_log` events.
//! - [`daemon`]: scheduled ticks, signals and systemd notification.
//! - [`metrics`]: the daemon's optional `/metrics` and `/healthz` endpoint.
//! - [`telemetry`]: logging setup, and the progress line log lines step around.

pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod lock;
pub mod metrics;
pub mod outcome;
pub mod startup;
pub mod store;
pub mod sync;
pub mod telemetry;
#[cfg(test)]
mod test_support;
