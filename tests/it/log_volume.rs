//! Log volume: thousands of bad records give a handful of journal lines per run, while
//! `sync_log` keeps every one; a rejected record sent again is counted, not stored again.

use crate::helpers::{assert_exit, spawn_app, stderr, TestApp};

const REJECTED: usize = 2500;
const BAD_TIMESTAMPS: usize = 2500;

/// An app serving 2 good groups, 2 500 records without an id and 2 500 groups whose
/// `updated_at` is not a timestamp: 5 000 bad records.
async fn app_with_bad_records() -> TestApp {
    let app = spawn_app(2).await;
    for i in 0..REJECTED {
        app.api.put_raw(&format!(
            r#"{{"group_name":"No id {i}","updated_at":"2024-08-04 08:23:45"}}"#
        ));
    }
    for i in 0..BAD_TIMESTAMPS {
        let id = 1000 + i;
        app.api.put_raw(&format!(
            r#"{{"id":{id},"group_name":"Late","created_at":"2024-08-01 00:00:00","updated_at":"last tuesday"}}"#
        ));
    }
    app
}

/// The journal lines (stderr) a `--once` wrote, checked to be few: 5 000 used to be 5 000.
async fn once_lines(app: &TestApp) -> Vec<String> {
    let out = app.run_binary(&["--once"], &[]).await;
    assert_exit(&out, 0);
    let lines: Vec<String> = stderr(&out).lines().map(str::to_owned).collect();
    assert!(
        lines.len() <= 25,
        "{} lines:\n{}",
        lines.len(),
        lines.join("\n")
    );
    lines
}

#[tokio::test]
async fn five_thousand_bad_records_give_a_bounded_number_of_journal_lines() {
    let app = app_with_bad_records().await;

    let lines = once_lines(&app).await;

    let summary = |event: &str, count: usize| {
        lines.iter().any(|l| {
            l.contains(&format!("{count} {event} warnings in this run"))
                && l.contains(&format!("{} not shown", count - 5))
        })
    };
    assert!(summary("rejected_record", REJECTED), "{}", lines.join("\n"));
    assert!(
        summary("bad_timestamp", BAD_TIMESTAMPS),
        "{}",
        lines.join("\n")
    );
    assert_eq!(app.events("rejected_record").await, REJECTED as i64);
    assert_eq!(app.events("bad_timestamp").await, BAD_TIMESTAMPS as i64);
}

#[tokio::test]
async fn a_rejected_record_sent_again_is_counted_but_stored_once() {
    let app = app_with_bad_records().await;
    once_lines(&app).await;

    let lines = once_lines(&app).await;

    assert!(lines
        .iter()
        .any(|l| l.contains("2500 rejected_record warnings in this run")));
    assert_eq!(app.events("rejected_record").await, REJECTED as i64);
    let rejected = app
        .scalar("SELECT rejected FROM sync_runs ORDER BY id DESC LIMIT 1")
        .await;
    assert_eq!(rejected, REJECTED as i64);
}
