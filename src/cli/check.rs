//! `check-config`: the effective configuration, where requests will go, and whether a key
//! was found at all; with `--probe`, one real request to prove the URL and the key work.
//!
//! Warnings go into the report as comments rather than onto stderr, so a failing check
//! still prints exactly one line there: the problem.

use super::output::{out, outln};
use crate::api::ApiClient;
use crate::config::{escape_controls, Settings};
use crate::domain::Scope;
use crate::outcome::Exit;
use crate::startup::{client_settings, StartupError};

use super::probe;

/// Prints the report; exits 2 when no key can be found (a sync would fail the same way),
/// else 0, or with `--probe` the verdict of the probe.
pub(super) async fn run(settings: &Settings, probe: bool) -> Result<Exit, StartupError> {
    out!("{}", settings.render());
    for warning in &settings.warnings {
        outln!("# warning: {}", escape_controls(warning));
    }
    let key = settings.require_key()?;
    let client = ApiClient::new(client_settings(settings, key, 0))?;
    outln!("# requests go to {}", client.endpoint());
    if !probe {
        return Ok(Exit::Ok);
    }
    let scope = Scope::from_codes(&settings.business_codes)
        .into_iter()
        .next()
        .unwrap_or(Scope::ALL);
    Ok(probe::run(&client, &scope).await)
}
