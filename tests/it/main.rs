//! The integration tests: real HTTP over loopback to the fake API, real SQLite files.

#[path = "../support/fake_api/mod.rs"]
mod fake_api;

mod helpers;
mod test_db;

mod cli;
mod cli_check_config;
mod cli_database;
mod cli_help;
mod cli_logs;
mod cli_progress;
mod cli_state;
mod cli_status;
mod compression;
mod config_inputs;
mod daemon;
mod daemon_due;
mod daemon_resilience;
mod deletion_proof;
mod deletions;
mod downgrade;
mod envelopes;
mod failures;
mod fake_api_selftest;
mod fetch_ahead;
mod first_load;
mod full_disk;
mod locking;
mod log_volume;
mod metrics;
mod model;
mod pagination;
mod readme_queries;
mod records;
mod repeats;
mod replaced_database;
mod retention;
mod rotation;
mod run_bookkeeping;
mod scale_out;
mod scopes;
mod secrecy;
mod sync_basics;
mod trust;
mod upstream_quirks;
