//! The integration tests: real HTTP over loopback to the fake API, real SQLite files.

#[path = "../support/fake_api/mod.rs"]
mod fake_api;

mod helpers;

mod fake_api_selftest;
mod sync_basics;
