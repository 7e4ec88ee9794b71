//! What happens to each record: rejected and kept, timestamps normalised, duplicates settled,
//! ids and business codes read leniently; and the sanity checks on what the API did.

use serde_json::Value;
use xtrakit_sync::domain::{Mode, RunStatus, Scope};

use crate::fake_api::{FakeOptions, MessageCount};
use crate::helpers::{
    json_response, spawn_app, spawn_app_with, synced_paginated_app, Ask, TestApp,
};

/// One group as the API documents it: `id` and `updated_at` are JSON text, `extra` members
/// are appended.
fn group(id: &str, updated_at: &str, extra: &str) -> String {
    format!(
        r#"{{"id":{id},"group_name":"Loyal customers","group_description":null,"created_at":"2024-08-01 00:00:00","updated_at":{updated_at}{extra}}}"#
    )
}

async fn column(app: &TestApp, name: &str, id: i64) -> Option<String> {
    app.text(&format!(
        "SELECT {name} FROM customer_groups WHERE id = {id}"
    ))
    .await
}

#[tokio::test]
async fn malformed_records_are_rejected_and_kept_whole_in_sync_log() {
    let app = spawn_app(3).await;
    let malformed = [
        (
            r#"{"group_name":"No id","updated_at":"2024-08-04 08:23:45"}"#,
            "id",
        ),
        (r#"{"id":"abc","group_name":"Letters"}"#, "id"),
        (r#"{"id":-5,"group_name":"Negative"}"#, "id"),
        (r#"{"id":50,"group_name":{"en":"Object"}}"#, "group_name"),
    ];
    for (record, _) in &malformed {
        app.api.put_raw(record);
    }

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(app.live_groups().await, 3, "the good records are stored");
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_groups WHERE id NOT IN (1, 2, 3)")
            .await,
        0
    );
    let run: (i64, i64, i64) = sqlx::query_as("SELECT received, inserted, rejected FROM sync_runs")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(run, (7, 3, 4));
    assert_eq!(report.tally.rejected, 4);
    let details = app.event_details("rejected_record").await;
    assert_eq!(details.len(), 4);
    for (record, field) in &malformed {
        let sent: Value = serde_json::from_str(record).unwrap();
        let logged = details
            .iter()
            .find(|d| d["record"] == sent)
            .unwrap_or_else(|| panic!("{record} not kept in sync_log: {details:?}"));
        let reason = logged["reason"].as_str().expect("a reason");
        assert!(reason.contains(field), "reason {reason:?} for {record}");
    }
    let pool = app.db().await;
    let texts: Vec<String> =
        sqlx::query_scalar("SELECT detail FROM sync_log WHERE event = 'rejected_record'")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (record, _) in &malformed {
        assert!(
            texts.iter().any(|t| t.contains(record)),
            "{record} kept byte for byte"
        );
    }
}

#[tokio::test]
async fn unparseable_timestamp_stores_null_keeps_the_raw_value_and_logs_bad_timestamp() {
    let app = spawn_app(2).await;
    let record = group("20", r#""last tuesday""#, "");
    app.api.put_raw(&record);

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(column(&app, "updated_at", 20).await, None);
    assert_eq!(
        column(&app, "created_at", 20).await.as_deref(),
        Some("2024-08-01 00:00:00")
    );
    assert_eq!(
        column(&app, "raw_json", 20).await.as_deref(),
        Some(record.as_str())
    );
    assert_eq!(app.events("rejected_record").await, 0);
    let details = app.event_details("bad_timestamp").await;
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["id"], 20);
    assert_eq!(details[0]["field"], "updated_at");
    assert_eq!(details[0]["value"], "last tuesday");
}

#[tokio::test]
async fn timestamps_are_normalised_to_utc_text() {
    let app = spawn_app(0).await;
    let cases = [
        (1, "2024-08-04T08:23:45Z", "2024-08-04 08:23:45"),
        (2, "2024-08-04T10:23:45+02:00", "2024-08-04 08:23:45"),
        (3, "2024-08-04 02:00:43-05:30", "2024-08-04 07:30:43"),
        (4, "2024-08-04T01:00:00+03:00", "2024-08-03 22:00:00"),
        (5, "2024-8-4 8:3:5", "2024-08-04 08:03:05"),
        (6, "2024-08-04", "2024-08-04 00:00:00"),
        (7, "2024-08-04 08:23:45", "2024-08-04 08:23:45"),
    ];
    for (id, sent, _) in &cases {
        app.api
            .put_raw(&group(&id.to_string(), &format!("\"{sent}\""), ""));
    }
    app.api.put_raw(
        r#"{"id":8,"group_name":"Created in Berlin","created_at":"2024-1-2T3:04:05+01:00","updated_at":"2024-01-02"}"#,
    );

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    for (id, sent, stored) in &cases {
        assert_eq!(
            column(&app, "updated_at", *id).await.as_deref(),
            Some(*stored),
            "{sent}"
        );
    }
    assert_eq!(
        column(&app, "created_at", 8).await.as_deref(),
        Some("2024-01-02 02:04:05")
    );
    assert_eq!(app.events("bad_timestamp").await, 0);
    assert_eq!(
        column(&app, "raw_json", 2).await.unwrap(),
        group("2", "\"2024-08-04T10:23:45+02:00\"", ""),
        "raw_json keeps the value as sent"
    );
}

#[tokio::test]
async fn updated_at_earlier_than_created_at_is_stored_not_rejected() {
    let app = spawn_app(0).await;
    app.api.put_raw(
        r#"{"id":1,"group_name":"Premium Customers","group_description":null,"created_at":"2024-08-04 08:23:45","updated_at":"2024-08-04 02:00:43"}"#,
    );

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(app.live_groups().await, 1);
    assert_eq!(
        column(&app, "created_at", 1).await.as_deref(),
        Some("2024-08-04 08:23:45")
    );
    assert_eq!(
        column(&app, "updated_at", 1).await.as_deref(),
        Some("2024-08-04 02:00:43")
    );
    assert_eq!(app.events("rejected_record").await, 0);
    assert_eq!(app.scalar("SELECT rejected FROM sync_runs").await, 0);
}

#[tokio::test]
async fn duplicate_id_in_one_response_keeps_the_latest_updated_at_and_logs_it() {
    let app = spawn_app(0).await;
    let newer = group("5", r#""2024-08-04 09:00:00""#, r#","tier":"newer""#);
    let other = group("6", r#""2024-08-04 09:00:00""#, "");
    let older = group("5", r#""2024-08-03 09:00:00""#, r#","tier":"older""#);
    app.api.push_fault(json_response(200, format!(
        r#"{{"status":200,"message":"Groups found: 3","data":{{"groups":[{newer},{other},{older}]}}}}"#
    )));

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(
        column(&app, "raw_json", 5).await.as_deref(),
        Some(newer.as_str())
    );
    assert_eq!(
        column(&app, "updated_at", 5).await.as_deref(),
        Some("2024-08-04 09:00:00")
    );
    assert_eq!(app.live_groups().await, 2);
    let details = app.event_details("duplicate_id").await;
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["id"], 5);
    let run: (i64, i64) = sqlx::query_as("SELECT received, inserted FROM sync_runs")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(run, (3, 2));
    assert_eq!(app.events("count_mismatch").await, 0);
}

#[tokio::test]
async fn duplicate_id_with_the_same_updated_at_keeps_the_last() {
    let app = spawn_app(0).await;
    let first = group("5", r#""2024-08-04 09:00:00""#, r#","tier":"first""#);
    let last = group("5", r#""2024-08-04 09:00:00""#, r#","tier":"last""#);
    app.api.push_fault(json_response(
        200,
        format!(r#"{{"status":200,"data":{{"groups":[{first},{last}]}}}}"#),
    ));

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(
        column(&app, "raw_json", 5).await.as_deref(),
        Some(last.as_str())
    );
    assert_eq!(app.events("duplicate_id").await, 1);
}

#[tokio::test]
async fn string_id_of_digits_is_stored_as_an_integer() {
    let app = spawn_app(0).await;
    let record = group(r#""42""#, r#""2024-08-04 09:00:00""#, "");
    app.api.put_raw(&record);

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    let (type_of_id, integer) = if app.on_postgres() {
        (
            "SELECT CAST(pg_typeof(id) AS TEXT) FROM customer_groups",
            "bigint",
        )
    } else {
        ("SELECT typeof(id) FROM customer_groups", "integer")
    };
    assert_eq!(app.text(type_of_id).await.as_deref(), Some(integer));
    assert_eq!(app.scalar("SELECT id FROM customer_groups").await, 42);
    assert_eq!(
        column(&app, "raw_json", 42).await.as_deref(),
        Some(record.as_str())
    );
    assert_eq!(app.events("rejected_record").await, 0);
}

#[tokio::test]
async fn business_code_comes_from_the_record_else_from_the_scope() {
    let app = spawn_app(0).await;
    let own = group("1", r#""2024-08-04 09:00:00""#, r#","business_code":9"#);
    let absent = group("2", r#""2024-08-04 09:00:00""#, "");
    let null = group("3", r#""2024-08-04 09:00:00""#, r#","business_code":null"#);
    app.api.push_fault(json_response(
        200,
        format!(r#"{{"status":200,"data":{{"groups":[{own},{absent},{null}]}}}}"#),
    ));

    let reports = app.sync_scopes(&[Scope::business(5)], Ask::default()).await;

    assert_eq!(
        reports[0].status,
        RunStatus::Success,
        "{:?}",
        reports[0].error
    );
    assert_eq!(
        app.api.requests()[0].query_value("business_code"),
        Some("5")
    );
    let pool = app.db().await;
    let codes: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT id, business_code FROM customer_groups ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(codes, vec![(1, Some(9)), (2, Some(5)), (3, Some(5))]);
}

#[tokio::test]
async fn ignored_updated_at_filter_logs_filter_not_honoured_once_with_the_count() {
    let app = synced_paginated_app(10, 3).await;
    app.api.honour_updated_at_filter(false);

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.mode, Mode::Incremental);
    let requests = app.api.requests();
    assert!(requests.len() > 1, "several pages: {requests:?}");
    let sent = requests[0].query_value("updated_at").unwrap().to_owned();
    let older = app
        .scalar(&format!(
            "SELECT count(*) FROM customer_groups WHERE updated_at < '{sent} 00:00:00'"
        ))
        .await;
    assert!(older > 0, "the dataset must hold records older than {sent}");
    let details = app.event_details("filter_not_honoured").await;
    assert_eq!(details.len(), 1, "logged once per run, not per page");
    assert_eq!(details[0]["count"], older);
    assert_eq!(details[0]["updated_at"], sent.as_str());
    assert_eq!(app.live_groups().await, 10);
}

#[tokio::test]
async fn honoured_updated_at_filter_logs_no_filter_not_honoured() {
    let app = synced_paginated_app(10, 3).await;
    app.api.update_groups(&[2, 9], "2025-06-01 00:00:00");

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.mode, Mode::Incremental);
    assert_eq!(report.tally.updated, 2);
    assert_eq!(app.events("filter_not_honoured").await, 0);
}

#[tokio::test]
async fn announced_count_differing_from_the_records_received_logs_count_mismatch() {
    let app = spawn_app_with(FakeOptions {
        groups: 5,
        message_count: MessageCount::Fixed(99),
        ..FakeOptions::default()
    })
    .await;

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(app.live_groups().await, 5, "the records are stored anyway");
    let details = app.event_details("count_mismatch").await;
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["announced"], 99);
    assert_eq!(details[0]["received"], 5);
    let level = app
        .text("SELECT level FROM sync_log WHERE event = 'count_mismatch'")
        .await;
    assert_eq!(level.as_deref(), Some("warn"));
}

#[tokio::test]
async fn right_count_announced_on_every_page_logs_no_count_mismatch() {
    let app = synced_paginated_app(10, 3).await;

    let report = app
        .sync_with(Ask {
            full: true,
            ..Ask::default()
        })
        .await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert!(report.tally.pages > 1);
    assert_eq!(report.tally.received, 10);
    assert_eq!(app.events("count_mismatch").await, 0);
}
