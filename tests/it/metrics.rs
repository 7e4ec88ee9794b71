//! The daemon's `/metrics` and `/healthz`, scraped over real HTTP on loopback from a daemon
//! started as a child process with `metrics_listen` on port 0.

use crate::helpers::{eventually, until_at_least, write_config, Daemon, TestApp, NEW_YEAR};
use crate::helpers::{spawn_app, try_scalar};

/// Starts the daemon with metrics on a port of the system's choosing and returns it with
/// the base URL the daemon logged.
async fn daemon_with_metrics(app: &TestApp, extra_config: &str) -> (Daemon, String) {
    let toml = format!("metrics_listen = \"127.0.0.1:0\"\n{extra_config}");
    let config = write_config(app, &toml);
    let config = config.to_str().expect("utf-8 temp path").to_owned();
    let daemon = Daemon::start(app, NEW_YEAR, &["--config", &config], &[]);
    let base = eventually("the daemon to log the metrics address", || async {
        let log = daemon.log();
        let rest = log.split("metrics on http://").nth(1)?;
        let address = rest.split("/metrics").next()?;
        Some(format!("http://{address}"))
    })
    .await;
    (daemon, base)
}

async fn get(url: &str) -> (u16, String, String) {
    let response = reqwest::get(url).await.expect("the endpoint answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

#[tokio::test]
async fn after_a_successful_run_metrics_show_the_scope_and_healthz_answers_200() {
    let app = spawn_app(7).await;
    let (mut daemon, base) = daemon_with_metrics(&app, "").await;
    until_at_least(
        &app,
        "the startup run to succeed",
        "SELECT count(*) FROM sync_runs WHERE status = 'success'",
        1,
    )
    .await;

    let (status, content_type, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    for line in [
        "xtrakit_sync_runs_total{scope=\"all\",status=\"success\"} 1",
        "xtrakit_sync_records_total{scope=\"all\",outcome=\"inserted\"} 7",
        "xtrakit_sync_groups{scope=\"all\",state=\"live\"} 7",
        "xtrakit_sync_groups{scope=\"all\",state=\"deleted\"} 0",
        "xtrakit_sync_auth_failures_total{scope=\"all\"} 0",
        "xtrakit_sync_finished_runs_total{scope=\"all\"} 1",
        "xtrakit_sync_healthy 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
    for name in [
        "xtrakit_sync_last_success_timestamp_seconds{scope=\"all\"} ",
        "xtrakit_sync_watermark_timestamp_seconds{scope=\"all\"} ",
        "xtrakit_sync_run_duration_seconds_total{scope=\"all\"} ",
        "xtrakit_sync_last_run_duration_seconds{scope=\"all\"} ",
    ] {
        assert!(text.contains(name), "no {name:?} in:\n{text}");
    }

    let (status, _, text) = get(&format!("{base}/healthz")).await;
    assert_eq!((status, text.starts_with("ok: ")), (200, true), "{text}");
    daemon.sigterm_and_expect_exit_0().await;
}

#[tokio::test]
async fn a_rejected_key_counts_an_auth_failure_and_healthz_answers_503() {
    let app = spawn_app(3).await;
    app.api.set_api_key(Some("another-key"));
    let (mut daemon, base) = daemon_with_metrics(&app, "max_retries = 0\n").await;
    eventually("the startup run to fail on the key", || async {
        let sql = "SELECT count(*) FROM sync_runs WHERE status = 'auth_failed'";
        try_scalar(&app, sql).await.filter(|&n| n >= 1)
    })
    .await;

    let (status, text) = {
        let (status, _, text) = get(&format!("{base}/healthz")).await;
        (status, text)
    };
    assert_eq!(status, 503, "{text}");
    assert!(
        text.starts_with("unhealthy: scope all never succeeded"),
        "{text}"
    );

    let (_, _, metrics) = get(&format!("{base}/metrics")).await;
    for line in [
        "xtrakit_sync_runs_total{scope=\"all\",status=\"auth_failed\"} 1",
        "xtrakit_sync_auth_failures_total{scope=\"all\"} 1",
        "xtrakit_sync_healthy 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in:\n{metrics}"
        );
    }
    assert!(
        !metrics.contains("last_success_timestamp_seconds{"),
        "{metrics}"
    );
    daemon.assert_running();
    daemon.sigterm_and_expect_exit_0().await;
}

#[tokio::test]
async fn an_address_in_use_stops_the_daemon_with_exit_2_naming_the_setting() {
    let app = spawn_app(1).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().expect("its address");
    let config = write_config(&app, &format!("metrics_listen = \"{address}\"\n"));
    let config = config.to_str().expect("utf-8 temp path");
    let out = app.run_binary(&["run", "--config", config], &[]).await;
    crate::helpers::assert_exit(&out, 2);
    let log = crate::helpers::stderr(&out);
    assert!(
        log.contains(&format!("metrics_listen: cannot listen on {address}")),
        "{log}"
    );
}
