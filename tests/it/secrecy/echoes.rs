//! the README, every form: upstream sends the key back in each place its text can reach
//! (error bodies under 401, 500 and 200, a record, a rejected record, a bad timestamp, a
//! next-page link, a redirect, a body cut mid-key), in each form an upstream may encode it.
//! The real binary runs at trace level in both log formats; then the database, its `-wal` and
//! every line printed are searched for any 10-character window of the key in every form.

use std::path::PathBuf;
use std::process::Output;

use super::{files_under, printed};
use crate::fake_api::{FakeOptions, Fault};
use crate::helpers::{assert_exit, spawn_app_with, stderr, write_config, TestApp};

/// A key with what each encoding changes: `/` (JSON's `\/`), `+` and `=` (URL encoding).
const KEY: &str = "sk/live+Qx7Zp2Wm9Rt4Vb8N==";
/// The run fragment the search looks for; the README allows no fragment this long.
const WINDOW: usize = 10;

/// How upstream may echo the key.
#[derive(Clone, Copy, Debug)]
enum Form {
    AsSent,
    /// PHP's `json_encode` default.
    SlashEscaped,
    UnicodeLower,
    UnicodeUpper,
    /// Some characters `\u`-escaped, the others as sent.
    UnicodeMixed,
    PercentUpper,
    PercentLower,
}

const FORMS: [Form; 7] = [
    Form::AsSent,
    Form::SlashEscaped,
    Form::UnicodeLower,
    Form::UnicodeUpper,
    Form::UnicodeMixed,
    Form::PercentUpper,
    Form::PercentLower,
];

impl Form {
    fn encode(self, key: &str) -> String {
        let mut out = String::new();
        for (i, c) in key.chars().enumerate() {
            let code = u32::from(c);
            match self {
                Form::AsSent => out.push(c),
                Form::SlashEscaped if c == '/' => out.push_str("\\/"),
                Form::SlashEscaped => out.push(c),
                Form::UnicodeLower => out.push_str(&format!("\\u{code:04x}")),
                Form::UnicodeUpper => out.push_str(&format!("\\u{code:04X}")),
                Form::UnicodeMixed if i % 3 == 0 => out.push_str(&format!("\\u{code:04x}")),
                Form::UnicodeMixed => out.push(c),
                _ if c.is_ascii_alphanumeric() => out.push(c),
                Form::PercentUpper => out.push_str(&format!("%{code:02X}")),
                _ => out.push_str(&format!("%{code:02x}")),
            }
        }
        out
    }

    /// The echo cut short two thirds of the way in, as a body that broke off would be.
    fn cut_short(self) -> String {
        let echoed = self.encode(KEY);
        echoed[..echoed.len() * 2 / 3].to_owned()
    }
}

/// The first 10-character window of the key, in any form, found in `bytes`.
fn leaked_window(bytes: &[u8]) -> Option<String> {
    FORMS.iter().find_map(|form| {
        let echoed = form.encode(KEY);
        echoed
            .as_bytes()
            .windows(WINDOW)
            .find(|w| memchr::memmem::find(bytes, w).is_some())
            .map(|w| format!("{form:?} {}", String::from_utf8_lossy(w)))
    })
}

/// Fails naming `what`, the window and the lines that hold it.
fn assert_no_window(bytes: &[u8], what: &str) {
    if let Some(window) = leaked_window(bytes) {
        let needle = window.split_once(' ').map_or("", |(_, w)| w);
        let lines: Vec<&str> = std::str::from_utf8(bytes)
            .map(|t| t.lines().filter(|l| l.contains(needle)).collect())
            .unwrap_or_default();
        panic!("{what} holds the key ({window}):\n{}", lines.join("\n"));
    }
}

fn status(status: u16, body: String) -> Fault {
    Fault::Raw {
        status,
        content_type: "application/json".into(),
        body,
    }
}

/// One way upstream echoes the key, with how the run it hits must end.
struct Echo {
    name: &'static str,
    /// Queued for the run's requests, in order (a retried failure needs one per attempt).
    faults: Vec<Fault>,
    exit: i32,
    /// `None` where two readings are allowed (a 200 `error` body: docs/upstream-api.md's `bad_response`
    /// that a retry recovers, or an empty result before that rule is in).
    run_status: Option<&'static str>,
}

/// The failures, each a run of its own (`max_retries = 1`).
fn failures(form: Form, api_url: &str) -> Vec<Echo> {
    let e = form.encode(KEY);
    let cut = form.cut_short();
    let twice = |fault: Fault| vec![fault.clone(), fault];
    vec![
        Echo {
            name: "401 body",
            faults: vec![status(
                401,
                format!(r#"{{"status":401,"error":"Unauthorized: Invalid API Key {e}"}}"#),
            )],
            exit: 3,
            run_status: Some("auth_failed"),
        },
        Echo {
            name: "500 body",
            faults: twice(status(
                500,
                format!(r#"{{"status":500,"error":"token {e}"}}"#),
            )),
            exit: 1,
            run_status: Some("failed"),
        },
        Echo {
            name: "200 error body",
            faults: vec![status(200, format!(r#"{{"error":"token {e} expired"}}"#))],
            exit: 0,
            run_status: None,
        },
        Echo {
            name: "200 body with an error status",
            faults: twice(status(200, format!(r#"{{"status":500,"error":"{e}"}}"#))),
            exit: 1,
            run_status: Some("failed"),
        },
        Echo {
            name: "200 body cut mid-key",
            faults: twice(status(
                200,
                format!(r#"{{"status":200,"data":{{"groups":[{{"id":1,"group_name":"{cut}"#),
            )),
            exit: 1,
            run_status: Some("failed"),
        },
        Echo {
            name: "500 body cut mid-key",
            faults: twice(status(
                500,
                format!(r#"{{"status":500,"error":"Bearer {cut}"#),
            )),
            exit: 1,
            run_status: Some("failed"),
        },
        Echo {
            name: "redirect to another origin",
            faults: vec![Fault::Redirect {
                location: format!("http://elsewhere.invalid/x?key={e}"),
            }],
            exit: 1,
            run_status: Some("failed"),
        },
        Echo {
            name: "same-origin redirect",
            faults: vec![Fault::Redirect {
                location: format!("{api_url}?key={e}"),
            }],
            exit: 0,
            run_status: Some("success"),
        },
    ]
}

/// A first page of one record echoing the key, whose next-page link carries it too; the
/// fake then serves its own groups, which hold a record, a rejected record and a bad
/// timestamp echoing it.
fn echoed_in_data(app: &TestApp, form: Form, run: usize) -> Fault {
    let e = form.encode(KEY);
    let link = format!("{}?page=2&token={e}", app.api.api_url());
    let id = 950 + run;
    app.api.put_raw(&format!(
        r#"{{"id":{},"group_name":"Group {e}","updated_at":"2099-01-01 00:00:00"}}"#,
        900 + run
    ));
    app.api
        .put_raw(&format!(r#"{{"id":"bad {e}","group_name":{{"k":"{e}"}}}}"#));
    app.api.put_raw(&format!(
        r#"{{"id":{},"group_name":"ts","updated_at":"{e}"}}"#,
        920 + run
    ));
    status(
        200,
        format!(
            r#"{{"status":200,"message":"Groups found: {e}","data":{{"groups":[{{"id":{id},"group_name":"{e}","updated_at":"2099-01-01 00:00:00"}}]}},"next_page_url":"{link}"}}"#
        ),
    )
}

async fn once(app: &TestApp, config: &str, log_format: &str) -> Output {
    let env = [
        ("XTRAKIT_API_KEY", KEY),
        ("XTRAKIT_SYNC_CONFIG", config),
        ("RUST_LOG", "trace"),
    ];
    app.run_binary(&["--once", "--log-format", log_format], &env)
        .await
}

/// Every echo of `form`, each in a run of its own, in `log_format`; each run's output is
/// searched as soon as it ends.
async fn run_every_echo(app: &TestApp, form: Form, config: &str, log_format: &str, pass: usize) {
    app.api.push_fault(echoed_in_data(app, form, pass));
    let out = once(app, config, log_format).await;
    assert_exit(&out, 0);
    assert_eq!(app.api.pending_faults(), 0);
    assert_eq!(app.last_run_status().await, "success");
    assert_no_window(&printed(&out), &format!("{form:?} data run, {log_format}"));

    for echo in failures(form, &app.api.api_url()) {
        for fault in echo.faults {
            app.api.push_fault(fault);
        }
        let out = once(app, config, log_format).await;
        let what = format!("the {form:?} {} run, {log_format}", echo.name);
        assert_exit(&out, echo.exit);
        assert_eq!(app.api.pending_faults(), 0, "{what}");
        let ended = app.last_run_status().await;
        match echo.run_status {
            Some(expected) => assert_eq!(ended, expected, "{what}"),
            None => assert_ne!(ended, "running", "{what}"),
        }
        assert_no_window(&printed(&out), &what);
    }
}

/// The whole check for one form: runs, then `status` and `check-config`, then the files.
async fn key_echoed_in_every_place_leaves_no_trace(form: Form) {
    let app = spawn_app_with(FakeOptions {
        api_key: Some(KEY.into()),
        groups: 3,
        ..FakeOptions::default()
    })
    .await;
    let config = write_config(&app, "max_retries = 1\nretry_base_delay_ms = 5\n");
    let config = config.to_str().expect("utf-8 path");
    let env = [("XTRAKIT_API_KEY", KEY), ("RUST_LOG", "trace")];
    assert_exit(&app.run_binary(&["migrate"], &env).await, 0);
    // An open connection keeps the `-wal` file, and what the runs wrote into it, on disk.
    let reader = app.db().await;
    sqlx::query("SELECT count(*) FROM sync_runs")
        .execute(&reader)
        .await
        .expect("reader");

    run_every_echo(&app, form, config, "text", 0).await;
    run_every_echo(&app, form, config, "json", 1).await;

    for args in [
        &["status"][..],
        &["status", "--json"],
        &["check-config"],
        &["check-config", "--log-format", "json"],
    ] {
        let out = app.run_binary(args, &env).await;
        assert_exit(&out, 0);
        assert_no_window(&printed(&out), &format!("`{}`", args.join(" ")));
    }

    let wal = PathBuf::from(format!("{}-wal", app.db_path.display()));
    assert!(wal.exists(), "the -wal file is there to be searched");
    for file in files_under(app.dir.path()) {
        let bytes = std::fs::read(&file).expect("readable");
        assert_no_window(&bytes, &file.display().to_string());
    }
    assert_echoes_were_stored_redacted(&reader).await;
    reader.close().await;
}

/// The search above proves nothing unless the echoes reached the database: they did, as
/// `[redacted]`, and the database is whole.
async fn assert_echoes_were_stored_redacted(reader: &sqlx::AnyPool) {
    let count = |sql: &'static str| async move {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(reader).await.expect(sql);
        n
    };
    let q = "SELECT count(*) FROM customer_groups WHERE raw_json LIKE '%[redacted]%'";
    assert!(count(q).await >= 4, "records and first pages, both passes");
    let q = "SELECT count(*) FROM sync_runs WHERE error LIKE '%[redacted]%'";
    assert!(count(q).await >= 8, "failed runs quote the echo, blanked");
    for event in [
        "rejected_record",
        "bad_timestamp",
        "retry",
        "http_error",
        "auth_failure",
    ] {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sync_log WHERE event = $1 \
             AND (message LIKE '%[redacted]%' OR detail LIKE '%[redacted]%')",
        )
        .bind(event)
        .fetch_one(reader)
        .await
        .expect("sync_log");
        assert!(n >= 1, "a {event} event quotes the echo, blanked");
    }
    let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(reader)
        .await
        .expect("integrity_check");
    assert_eq!(ok, "ok");
}

#[tokio::test]
async fn key_echoed_as_sent_leaves_no_trace() {
    key_echoed_in_every_place_leaves_no_trace(Form::AsSent).await;
}

#[tokio::test]
async fn key_echoed_with_json_escaped_slashes_leaves_no_trace() {
    key_echoed_in_every_place_leaves_no_trace(Form::SlashEscaped).await;
}

#[tokio::test]
async fn key_echoed_unicode_escaped_in_lowercase_hex_leaves_no_trace() {
    key_echoed_in_every_place_leaves_no_trace(Form::UnicodeLower).await;
}

#[tokio::test]
async fn key_echoed_unicode_escaped_in_uppercase_hex_leaves_no_trace() {
    key_echoed_in_every_place_leaves_no_trace(Form::UnicodeUpper).await;
}

#[tokio::test]
async fn key_echoed_with_some_characters_unicode_escaped_leaves_no_trace() {
    key_echoed_in_every_place_leaves_no_trace(Form::UnicodeMixed).await;
}

#[tokio::test]
async fn key_echoed_percent_encoded_in_uppercase_hex_leaves_no_trace() {
    key_echoed_in_every_place_leaves_no_trace(Form::PercentUpper).await;
}

#[tokio::test]
async fn key_echoed_percent_encoded_in_lowercase_hex_leaves_no_trace() {
    key_echoed_in_every_place_leaves_no_trace(Form::PercentLower).await;
}

/// Issue 7, defect 6: PHP's `json_encode` writes `/` as `\/`, and a PHP notice after it makes
/// the page no JSON, so it is quoted as sent; the exact-match redaction missed the key there
/// and it reached `sync_runs.error`, `sync_log` and stderr.
#[tokio::test]
async fn key_echoed_json_escaped_by_a_php_error_page_is_redacted() {
    let app = spawn_app_with(FakeOptions {
        api_key: Some(KEY.into()),
        groups: 3,
        ..FakeOptions::default()
    })
    .await;
    let config = write_config(&app, "max_retries = 1\nretry_base_delay_ms = 5\n");
    let php = format!(
        "{{\"status\":500,\"error\":\"Invalid token {}\"}}\n<br />\n<b>Notice</b>: \
         Undefined index: page in <b>/var/www/api/groups.php</b> on line <b>42</b><br />",
        KEY.replace('/', "\\/")
    );
    app.api.push_fault(status(500, php.clone()));
    app.api.push_fault(status(500, php));

    let out = once(&app, config.to_str().expect("utf-8 path"), "text").await;

    assert_exit(&out, 1);
    assert_no_window(&printed(&out), "stderr");
    assert!(
        stderr(&out).contains("Invalid token [redacted]"),
        "{}",
        stderr(&out)
    );
    let error = app
        .text("SELECT error FROM sync_runs")
        .await
        .unwrap_or_default();
    let quoted = r#"API answered 500: {"status":500,"error":"Invalid token [redacted]"}"#;
    assert!(error.starts_with(quoted), "{error}");
    for message in app.event_messages("http_error").await {
        assert_no_window(message.as_bytes(), "sync_log.message");
        assert!(message.contains("[redacted]"), "{message}");
    }
    assert_eq!(app.last_run_status().await, "failed");
}
