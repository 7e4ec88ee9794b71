//! `/metrics` (Prometheus) and `/healthz` over plain HTTP, served by the daemon when
//! `metrics_listen` is set. Both read the database afresh on each request through a
//! read-only connection of their own, so a scrape never waits for the sync in progress.

mod exposition;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::cli::health::{self, Health};
use crate::config::Settings;
use crate::domain::{now_utc, Scope};
use crate::store::{MetricTotals, StatusReport, Store, StoreError};

/// The content type of the OpenMetrics text `prometheus-client` writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PLAIN: &str = "text/plain; charset=utf-8";

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("metrics_listen: cannot listen on {address}: {source}")]
pub struct MetricsError {
    address: SocketAddr,
    source: std::io::Error,
}

/// What every request reads.
struct View {
    database: crate::store::Location,
    scopes: Vec<Scope>,
    max_age: Duration,
}

/// Starts serving when `metrics_listen` is set, until `cancel`; returns the bound address
/// (the port chosen by the system when the setting's port is 0).
pub async fn start(
    settings: &Settings,
    cancel: CancellationToken,
) -> Result<Option<SocketAddr>, MetricsError> {
    let Some(address) = settings.metrics_listen else {
        return Ok(None);
    };
    let fail = |source| MetricsError { address, source };
    let listener = TcpListener::bind(address).await.map_err(fail)?;
    let local = listener.local_addr().map_err(fail)?;
    let view = Arc::new(View {
        database: settings.database.clone(),
        scopes: Scope::from_codes(&settings.business_codes),
        max_age: settings.health_max_age,
    });
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(view);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
        if let Err(e) = served {
            warn!("the metrics endpoint stopped: {e}");
        }
    });
    info!("metrics on http://{local}/metrics, health on http://{local}/healthz");
    Ok(Some(local))
}

/// The database's state and totals at one moment.
struct Reading {
    report: StatusReport,
    totals: MetricTotals,
}

impl View {
    async fn read(&self) -> Result<Reading, StoreError> {
        let store = Store::open_read_only(&self.database).await?;
        let read = async {
            let report = store.status().await?;
            let totals = store.metric_totals().await?;
            Ok(Reading { report, totals })
        }
        .await;
        store.close().await;
        read
    }

    /// `status --check`'s verdict, and also unhealthy while a scope's last run failed.
    fn health(&self, reading: &Reading) -> Health {
        let expected: Vec<String> = self.scopes.iter().map(Scope::key).collect();
        let mut verdict = health::judge(&reading.report.scopes, &expected, self.max_age, now_utc());
        let failed: Vec<String> = reading
            .report
            .scopes
            .iter()
            .filter(|s| expected.contains(&s.scope))
            .filter_map(|s| s.last_run.as_ref().map(|run| (s, run)))
            .filter(|(_, run)| matches!(run.status.as_str(), "failed" | "auth_failed"))
            .map(|(s, run)| format!("scope {} last run {}", s.scope, run.status))
            .collect();
        if verdict.healthy && !failed.is_empty() {
            verdict.healthy = false;
            verdict.summary = format!("unhealthy: {}", failed.join("; "));
        }
        verdict
    }
}

async fn metrics(State(view): State<Arc<View>>) -> Response {
    let reading = match view.read().await {
        Ok(reading) => reading,
        Err(e) => return unreadable(&e),
    };
    let health = view.health(&reading);
    let snapshot = exposition::Snapshot {
        scopes: &view.scopes,
        states: &reading.report.scopes,
        totals: &reading.totals,
        healthy: health.healthy,
    };
    match exposition::render(&snapshot) {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(_) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot write the metrics\n".into(),
        ),
    }
}

async fn healthz(State(view): State<Arc<View>>) -> Response {
    let reading = match view.read().await {
        Ok(reading) => reading,
        Err(e) => return unreadable(&e),
    };
    let health = view.health(&reading);
    let status = if health.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    plain(status, format!("{}\n", health.summary))
}

fn unreadable(e: &StoreError) -> Response {
    warn!("metrics: cannot read the database: {e}");
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("unhealthy: cannot read the database: {e}\n"),
    )
}

fn plain(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, PLAIN)], text).into_response()
}
