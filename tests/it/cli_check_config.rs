//! `check-config` as an operator uses it before installing: no key is a failure naming every
//! place looked at; `--probe` makes one real request and reports what it met; a `base_url`
//! with the API's path, or none of a scheme, is refused with the fix.

use crate::fake_api::{MetaLocation, Pagination};
use crate::helpers::{assert_exit, spawn_app, stderr, stdout, TestApp};

/// The report line `# label value` of a probe.
fn probe_line<'a>(out: &'a str, label: &str) -> &'a str {
    let prefix = format!("# {label}:");
    out.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} line in:\n{out}"))
}

async fn check_config(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all = vec!["check-config"];
    all.extend_from_slice(args);
    app.run_binary(&all, env).await
}

#[tokio::test]
async fn no_key_exits_2_naming_every_place_looked_at_and_the_systemd_credential() {
    let app = spawn_app(1).await;
    let mut cmd = app.command();
    cmd.arg("check-config").env_remove("XTRAKIT_API_KEY");
    let out = cmd.output().await.expect("binary runs");

    assert_exit(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    for place in [
        "--api-key-file",
        "XTRAKIT_API_KEY (not set)",
        "XTRAKIT_API_KEY_FILE",
        "api_key_file (no config file)",
        "$CREDENTIALS_DIRECTORY not set",
        "XTRAKIT_API_KEY_FILE=/etc/xtrakit-sync/api-key",
    ] {
        assert!(err.contains(place), "{place:?} missing: {err}");
    }
    assert!(stdout(&out).contains("# api key: none"), "{}", stdout(&out));
}

#[tokio::test]
async fn no_key_in_a_credentials_directory_names_the_file_looked_for() {
    let app = spawn_app(1).await;
    let creds = app.dir.path().join("creds");
    std::fs::create_dir(&creds).expect("creds dir");
    let mut cmd = app.command();
    cmd.arg("check-config")
        .env_remove("XTRAKIT_API_KEY")
        .env("CREDENTIALS_DIRECTORY", &creds);
    let out = cmd.output().await.expect("binary runs");

    assert_exit(&out, 2);
    let expected = format!("{} (no such file)", creds.join("xtrakit-api-key").display());
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}

#[tokio::test]
async fn probe_reports_reachability_tls_key_shape_and_pagination_without_a_database() {
    let app = spawn_app(12).await;
    app.api.set_pagination(
        Pagination::Numbered {
            location: MetaLocation::TopLevel,
        },
        5,
    );

    let out = check_config(&app, &["--probe"], &[]).await;

    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        probe_line(&text, "probe").ends_with("/api/v1/customer-groups"),
        "{text}"
    );
    assert!(
        probe_line(&text, "reachable").contains("yes, HTTP 200"),
        "{text}"
    );
    assert!(
        probe_line(&text, "tls").contains("not used (plain http)"),
        "{text}"
    );
    assert!(probe_line(&text, "key").ends_with("accepted"), "{text}");
    assert!(
        probe_line(&text, "response").contains("5 records"),
        "{text}"
    );
    assert!(
        probe_line(&text, "pagination").contains("numbered pages"),
        "{text}"
    );
    assert!(
        toml::from_str::<toml::Table>(&text).is_ok(),
        "still TOML: {text}"
    );
    assert_eq!(app.api.request_count(), 1, "one request");
    assert!(!app.db_path.exists(), "no database is created");
}

#[tokio::test]
async fn probe_detects_next_page_links() {
    let app = spawn_app(12).await;
    app.api.set_pagination(
        Pagination::NextUrl {
            location: crate::fake_api::LinkLocation::TopLevel,
            absolute: true,
        },
        5,
    );
    let out = check_config(&app, &["--probe"], &[]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        probe_line(&text, "pagination").contains("next_page_url"),
        "{text}"
    );
}

#[tokio::test]
async fn probe_with_a_rejected_key_exits_3_and_says_so_once() {
    let app = spawn_app(3).await;
    let out = check_config(&app, &["--probe"], &[("XTRAKIT_API_KEY", "wrong")]).await;

    assert_exit(&out, 3);
    let text = stdout(&out);
    assert!(probe_line(&text, "key").contains("rejected"), "{text}");
    assert!(!text.contains("wrong"), "the key never shows: {text}");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("GET http://"), "{err}");
    assert_eq!(app.api.request_count(), 1, "an auth failure is not retried");
}

#[tokio::test]
async fn probe_of_a_closed_port_exits_1_saying_unreachable_with_the_url() {
    let app = spawn_app(1).await;
    let out = check_config(&app, &["--probe", "--base-url", "http://127.0.0.1:1"], &[]).await;

    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        probe_line(&text, "reachable").starts_with("# reachable:  no"),
        "{text}"
    );
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("GET http://127.0.0.1:1/api/v1/customer-groups"),
        "{err}"
    );
}

#[tokio::test]
async fn base_url_with_the_apis_path_is_refused_showing_the_doubled_url_and_the_root() {
    let app = spawn_app(1).await;
    let with_path = format!("{}/api/v1", app.base_url.trim_end_matches('/'));
    let out = app
        .run_binary(&["--once", "--base-url", &with_path], &[])
        .await;

    assert_exit(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/api/v1/api/v1/customer-groups"), "{err}");
    assert!(err.contains("use the root"), "{err}");
    assert_eq!(app.api.request_count(), 0);
}

#[tokio::test]
async fn base_url_without_a_scheme_says_so() {
    let app = spawn_app(1).await;
    let out = check_config(&app, &["--base-url", "localhost:8080"], &[]).await;

    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("localhost:8080 has no scheme"), "{err}");
    assert!(err.contains("https://localhost:8080"), "{err}");
}

#[tokio::test]
async fn a_404_names_the_url_and_hints_at_base_url_in_the_runs_last_line() {
    let app = spawn_app(1).await;
    let prefixed = format!("{}/gateway", app.base_url.trim_end_matches('/'));
    let out = app
        .run_binary(&["--once", "--base-url", &prefixed], &[])
        .await;

    assert_exit(&out, 1);
    let err = stderr(&out);
    let warning = err
        .lines()
        .find(|l| l.contains("has a path"))
        .unwrap_or_default();
    assert!(warning.contains("/gateway/api/v1/customer-groups"), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.contains("404"), "{last}");
    assert!(last.contains("GET http://127.0.0.1:"), "{last}");
    assert!(last.contains("/gateway/api/v1/customer-groups"), "{last}");
    assert!(last.contains("base_url is the API's root"), "{last}");
}
