//! HTTPS through a company CA: a CA written by the test signs the fake's certificate. Without
//! `ca_file` a run fails at once with a certificate error (never retried); with it the run
//! succeeds. A proxy that answers 407 fails the run at once too; `check-config` names the
//! trust source and the proxy without its password.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fake_api::{FakeOptions, TestCa};
use crate::helpers::{assert_exit, spawn_app_with, stderr, stdout, write_config, TestApp};

/// A fake API on HTTPS whose certificate the returned CA signed.
async fn https_app(groups: usize) -> (TestApp, TestCa) {
    let ca = TestCa::new().expect("test CA");
    let app = spawn_app_with(FakeOptions {
        groups,
        tls: Some(ca.server.clone()),
        ..FakeOptions::default()
    })
    .await;
    (app, ca)
}

/// A config that would retry quickly and often, and trusts `ca_file` when given.
fn config(app: &TestApp, ca: Option<&TestCa>) -> String {
    let mut toml = String::from("max_retries = 3\nretry_base_delay_ms = 1\n");
    if let Some(ca) = ca {
        let path = app.dir.path().join("company-ca.pem");
        std::fs::write(&path, &ca.ca_pem).expect("CA written");
        toml.push_str(&format!("ca_file = {:?}\n", path.display().to_string()));
    }
    write_config(app, &toml).display().to_string()
}

#[tokio::test]
async fn a_server_signed_by_an_unknown_ca_fails_the_run_with_a_certificate_error_and_no_retry() {
    let (app, _ca) = https_app(3).await;
    let config = config(&app, None);

    let out = app.run_binary(&["--once", "--config", &config], &[]).await;

    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("TLS certificate not accepted"), "{err}");
    assert!(
        err.contains("does not trust") && err.contains("ca_file"),
        "{err}"
    );
    assert!(!err.contains("retry 1 of"), "{err}");
    assert!(!err.contains("UnknownIssuer"), "{err}");
    assert_eq!(app.events("retry").await, 0);
    assert_eq!(app.events("network_error").await, 1);
    assert_eq!(app.api.request_count(), 0);
}

#[tokio::test]
async fn the_same_server_is_trusted_once_ca_file_names_the_company_ca() {
    let (app, ca) = https_app(3).await;
    let config = config(&app, Some(&ca));

    let out = app.run_binary(&["--once", "--config", &config], &[]).await;

    assert_exit(&out, 0);
    assert_eq!(app.live_groups().await, 3);
}

#[tokio::test]
async fn check_config_names_the_trust_source_and_the_proxy_without_its_password() {
    let (app, ca) = https_app(0).await;
    let config = config(&app, Some(&ca));
    let proxy = "http://alice:pr0xy-secret@proxy.example:3128";

    let out = app
        .run_binary(
            &["check-config", "--config", &config],
            &[("HTTPS_PROXY", proxy), ("NO_PROXY", "localhost")],
        )
        .await;

    assert_exit(&out, 0);
    let report = stdout(&out);
    assert!(report.contains("ca_file = "), "{report}");
    assert!(
        report.contains("# trust: the system trust store") && report.contains("1 certificate(s)"),
        "{report}"
    );
    assert!(
        report.contains("# proxy: HTTPS_PROXY=http://***@proxy.example:3128/ NO_PROXY=localhost"),
        "{report}"
    );
    assert!(!report.contains("pr0xy-secret") && !stderr(&out).contains("pr0xy-secret"));
}

#[tokio::test]
async fn a_ca_file_that_holds_no_certificate_is_a_configuration_error() {
    let app = spawn_app_with(FakeOptions::default()).await;
    let path = app.dir.path().join("ca.pem");
    std::fs::write(&path, "-----BEGIN NOTHING-----\n").expect("file written");
    let config = write_config(
        &app,
        &format!("ca_file = {:?}\n", path.display().to_string()),
    );

    let out = app
        .run_binary(&["--once", "--config", &config.display().to_string()], &[])
        .await;

    assert_exit(&out, 2);
    assert!(stderr(&out).contains("ca_file"), "{}", stderr(&out));
}

/// A proxy that answers every CONNECT with 407 and counts the connections it saw.
async fn proxy_demanding_credentials() -> (String, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("proxy binds");
    let addr = listener.local_addr().expect("proxy address");
    let (seen, connections) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = seen.send(());
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let answer = "HTTP/1.1 407 Proxy Authentication Required\r\n\
                          Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n";
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (format!("http://{addr}"), connections)
}

#[tokio::test]
async fn a_proxy_answering_407_fails_the_run_at_once_without_retries() {
    let (app, ca) = https_app(3).await;
    let config = config(&app, Some(&ca));
    let (proxy, mut connections) = proxy_demanding_credentials().await;

    let out = app
        .run_binary(&["--once", "--config", &config], &[("HTTPS_PROXY", &proxy)])
        .await;

    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("407 Proxy Authentication Required"), "{err}");
    assert!(!err.contains("retry 1 of"), "{err}");
    connections.close();
    let mut seen = 0;
    while connections.recv().await.is_some() {
        seen += 1;
    }
    assert_eq!(seen, 1);
    assert_eq!(app.api.request_count(), 0);
}
