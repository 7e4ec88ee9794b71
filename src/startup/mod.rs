//! Builds what a sync needs (the API client and the database) from the resolved settings.
//! Both the `--once` command and the daemon start here, so neither depends on the other;
//! what fails is returned as a [`StartupError`], mapped to an exit code in `outcome` and
//! printed once by the caller.

pub mod database;

use crate::api::{ApiClient, ApiError, ClientSettings};
use crate::config::{ConfigError, Settings};
use crate::domain::ApiKey;
use crate::store::{Location, Store, StoreError};
use crate::sync::{SyncOptions, Syncer};

/// Why the sync could not be set up. Each displays as one line in the user's words.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting a sync needs is missing or wrong (exit 2).
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    /// The settings do not make a usable HTTP client (exit 2).
    #[error("configuration error: {0}")]
    Client(#[from] ApiError),
    /// The database cannot be opened or created; the text already explains why (exit 4).
    #[error("{0}")]
    Database(String),
    /// A newer xtrakit-sync migrated the database; the text says what to do (exit 5).
    #[error("{0}")]
    DatabaseTooNew(String),
}

/// The store and the client a sync needs.
pub async fn build_syncer(settings: &Settings) -> Result<Syncer, StartupError> {
    let key = settings.require_key()?;
    let client = ApiClient::new(client_settings(settings, key, settings.max_retries))?;
    let store = open_store(&settings.database).await?;
    Ok(Syncer {
        store,
        client: client.into(),
        options: SyncOptions {
            lookback_days: settings.lookback_days,
            max_pages: settings.max_pages,
            max_concurrent_requests: settings.max_concurrent_requests,
            history: settings.history,
            delete_guard_fraction: settings.delete_guard_fraction,
        },
        progress: None,
    })
}

/// The HTTP client's settings; the probe asks for no retries.
pub fn client_settings(settings: &Settings, key: &ApiKey, max_retries: u32) -> ClientSettings {
    ClientSettings {
        base_url: settings.base_url.clone(),
        key: key.clone(),
        request_timeout: settings.request_timeout,
        max_retries,
        max_response_bytes: settings.max_response_bytes,
        retry_base_delay: settings.retry_base_delay,
        extra_roots: settings.trust.ca_certs.clone(),
    }
}

/// Opens (or creates) the database for writing. A path problem the file system shows is
/// reported before SQLite is asked, because SQLite's own message does not tell them apart.
pub async fn open_store(location: &Location) -> Result<Store, StartupError> {
    if let Some(problem) = database::diagnose_location(location, true) {
        return Err(StartupError::Database(problem));
    }
    Store::open(location).await.map_err(|e| match e {
        StoreError::TooNew { .. } => StartupError::DatabaseTooNew(e.to_string()),
        e => StartupError::Database(database::explain(location, &e, true)),
    })
}
