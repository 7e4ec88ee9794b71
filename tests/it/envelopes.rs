//! Every envelope shape of docs/upstream-api.md stores the same groups; empty results are a success; a body
//! of an unknown shape is a `bad_response`, never the end of the data.

use serde_json::Value;
use xtrakit_sync::domain::RunStatus;

use crate::fake_api::{FakeApi, LinkLocation, MetaLocation, Pagination, Shape};
use crate::helpers::{json_response, spawn_app, Ask, TestApp, KEY};

/// One stored row: id, business_code, group_name, group_description, created_at,
/// updated_at, raw_json.
type Row = (
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

/// The records the fake serves, read straight off the wire in the plain array shape: what
/// every other shape must end up storing.
async fn served_records(api: &FakeApi) -> Vec<Value> {
    api.set_shape(Shape::Array);
    api.set_pagination(Pagination::None, 0);
    let text = reqwest::Client::new()
        .get(api.api_url())
        .bearer_auth(KEY)
        .send()
        .await
        .expect("fake answers")
        .text()
        .await
        .expect("a body");
    let body: Value = serde_json::from_str(&text).expect("JSON body");
    api.clear_requests();
    body["data"]["groups"]
        .as_array()
        .expect("data.groups is an array")
        .clone()
}

/// What a row must hold for a record made of canonical timestamps.
fn expected_row(record: &Value) -> Row {
    let text = |name: &str| record[name].as_str().map(str::to_owned);
    (
        record["id"].as_i64().expect("id"),
        record["business_code"].as_i64(),
        text("group_name"),
        text("group_description"),
        text("created_at"),
        text("updated_at"),
        serde_json::to_string(record).expect("record text"),
    )
}

async fn stored_rows(app: &TestApp) -> Vec<Row> {
    let pool = app.db().await;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, business_code, group_name, group_description, created_at, updated_at, \
         raw_json FROM customer_groups WHERE deleted_at IS NULL ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("rows");
    pool.close().await;
    // raw_json is compared as JSON: the fake writes records compactly, as serde_json does.
    rows.into_iter()
        .map(|mut row| {
            let value: Value = serde_json::from_str(&row.6).expect("raw_json is JSON");
            row.6 = serde_json::to_string(&value).expect("raw_json text");
            row
        })
        .collect()
}

/// Syncs the fake's groups served in `shape` (paginated as asked) and checks that the
/// stored rows are exactly the records the array shape carries.
async fn assert_shape_stores_every_group(shape: Shape, pagination: Pagination, per_page: usize) {
    let app = spawn_app(7).await;
    let expected: Vec<Row> = served_records(&app.api)
        .await
        .iter()
        .map(expected_row)
        .collect();
    assert_eq!(expected.len(), 7);
    app.api.set_shape(shape);
    app.api.set_pagination(pagination, per_page);

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(stored_rows(&app).await, expected);
    assert_eq!(app.scalar("SELECT received FROM sync_runs").await, 7);
    assert_eq!(app.scalar("SELECT rejected FROM sync_runs").await, 0);
    assert_eq!(app.events("bad_response").await, 0);
    assert_eq!(app.events("count_mismatch").await, 0);
}

#[tokio::test]
async fn groups_array_in_data_stores_every_group() {
    assert_shape_stores_every_group(Shape::Array, Pagination::None, 0).await;
}

#[tokio::test]
async fn single_group_object_per_page_stores_every_group() {
    let pagination = Pagination::NextUrl {
        location: LinkLocation::TopLevel,
        absolute: false,
    };
    assert_shape_stores_every_group(Shape::Single, pagination, 1).await;
}

#[tokio::test]
async fn php_object_map_of_groups_stores_every_group() {
    assert_shape_stores_every_group(Shape::ObjectMap, Pagination::None, 0).await;
}

#[tokio::test]
async fn php_object_map_pages_whose_keys_do_not_start_at_zero_store_every_group() {
    let pagination = Pagination::Numbered {
        location: MetaLocation::InMeta,
    };
    assert_shape_stores_every_group(Shape::ObjectMap, pagination, 3).await;
}

#[tokio::test]
async fn data_itself_an_array_stores_every_group() {
    assert_shape_stores_every_group(Shape::DataArray, Pagination::None, 0).await;
}

/// The success sample of the API reference, as printed there, less its `...` line (which
/// stands for "more groups" and is not JSON).
const DOCUMENTED_SAMPLE: &str = r#"{
    "status": 200,
    "message": "Groups found: 20",
    "data": {
        "groups": {
            "id": 1,
            "group_name": "Premium Customers",
            "group_description": "Customers who have spent over $1000 and have been with the business for over a year.",
            "created_at": "2024-08-04 08:23:45",
            "updated_at": "2024-08-04 02:00:43"
        }
    }
}"#;

#[tokio::test]
async fn documented_sample_body_with_status_200_stores_its_one_group() {
    let app = spawn_app(0).await;
    app.api.push_fault(json_response(200, DOCUMENTED_SAMPLE));

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(app.last_run_status().await, "success");
    let sample: Value = serde_json::from_str(DOCUMENTED_SAMPLE).unwrap();
    let record = &sample["data"]["groups"];
    assert_eq!(stored_rows(&app).await, vec![expected_row(record)]);
    let raw_json = app
        .text("SELECT raw_json FROM customer_groups WHERE id = 1")
        .await
        .unwrap();
    assert!(
        DOCUMENTED_SAMPLE.contains(&raw_json),
        "raw_json is the record's text as sent: {raw_json}"
    );
    assert_eq!(app.events("rejected_record").await, 0);
}

/// An empty answer on a first (full) run: success, no rows, no failure events.
async fn assert_empty_result(status: u16, body: &str) {
    let app = spawn_app(0).await;
    app.api.push_fault(json_response(status, body));

    let report = app.sync().await;

    assert_eq!(
        report.status,
        RunStatus::Success,
        "{body}: {:?}",
        report.error
    );
    assert_eq!(app.last_run_status().await, "success");
    assert_eq!(app.scalar("SELECT count(*) FROM customer_groups").await, 0);
    let run: (i64, i64, i64) = sqlx::query_as("SELECT pages, received, rejected FROM sync_runs")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(run, (1, 0, 0), "{body}");
    for event in ["bad_response", "http_error", "retry"] {
        assert_eq!(app.events(event).await, 0, "{event} after {body}");
    }
    assert_eq!(app.api.request_count(), 1, "an empty result is not retried");
}

#[tokio::test]
async fn absent_data_is_an_empty_success() {
    assert_empty_result(200, r#"{"status":200,"message":"Groups found: 0"}"#).await;
}

#[tokio::test]
async fn null_data_is_an_empty_success() {
    assert_empty_result(200, r#"{"status":200,"data":null}"#).await;
}

#[tokio::test]
async fn empty_array_data_is_an_empty_success() {
    assert_empty_result(200, r#"{"status":200,"data":[]}"#).await;
}

#[tokio::test]
async fn empty_object_data_is_an_empty_success() {
    assert_empty_result(200, r#"{"status":200,"data":{}}"#).await;
}

#[tokio::test]
async fn empty_groups_array_is_an_empty_success() {
    assert_empty_result(200, r#"{"status":200,"data":{"groups":[]}}"#).await;
}

#[tokio::test]
async fn not_found_without_groups_or_error_is_an_empty_success() {
    assert_empty_result(404, r#"{"status":404,"message":"No groups found"}"#).await;
}

#[tokio::test]
async fn not_found_with_an_error_is_a_failure_not_an_empty_result() {
    let app = spawn_app(4).await;
    app.sync().await;
    let (before, watermark) = (app.snapshot().await, app.watermark().await);
    app.api.push_fault(json_response(
        404,
        r#"{"status":404,"error":"Route not found"}"#,
    ));

    let report = app
        .sync_with(Ask {
            full: true,
            ..Ask::default()
        })
        .await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(app.last_run_status().await, "failed");
    assert_eq!(app.events("http_error").await, 1);
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.watermark().await, watermark);
}

#[tokio::test]
async fn empty_result_on_a_full_run_with_rows_trips_the_deletion_guard_instead_of_wiping() {
    let app = spawn_app(10).await;
    app.sync().await;
    let (before, watermark) = (app.snapshot().await, app.watermark().await);
    // The first listing and the one that confirms its candidates both come back empty.
    app.api
        .push_fault(json_response(200, r#"{"status":200,"data":[]}"#));
    app.api
        .push_fault(json_response(200, r#"{"status":200,"data":[]}"#));

    let report = app
        .sync_with(Ask {
            full: true,
            ..Ask::default()
        })
        .await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.tally.deleted, 0);
    assert_eq!(app.live_groups().await, 10);
    assert_eq!(app.snapshot().await, before, "no row marked deleted");
    assert_eq!(app.events("deletion_guard").await, 1);
    let detail = app.event_details("deletion_guard").await.remove(0);
    assert_eq!(
        (detail["missing"].as_i64(), detail["live"].as_i64()),
        (Some(10), Some(10))
    );
    assert_eq!(app.watermark().await, watermark);
    assert_eq!(
        app.scalar("SELECT count(*) FROM customer_group_history WHERE change = 'delete'")
            .await,
        0
    );
}

/// A 2xx body whose `data` holds other keys but no groups.
const NO_GROUPS: &str = r#"{"status":200,"message":"OK","data":{"items":[{"id":1}],"count":1}}"#;

#[tokio::test]
async fn data_without_groups_is_a_bad_response_retried_then_the_run_fails_untouched() {
    let app = spawn_app(6).await;
    app.sync().await;
    let (before, watermark) = (app.snapshot().await, app.watermark().await);
    app.api.clear_requests();
    for _ in 0..=app.max_retries {
        app.api.push_fault(json_response(200, NO_GROUPS));
    }

    let report = app
        .sync_with(Ask {
            full: true,
            ..Ask::default()
        })
        .await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(app.last_run_status().await, "failed");
    assert_eq!(app.api.request_count(), app.max_retries as usize + 1);
    assert_eq!(app.events("retry").await, i64::from(app.max_retries));
    for detail in app.event_details("retry").await {
        assert_eq!(detail["cause"], "bad_response");
    }
    assert_eq!(app.events("bad_response").await, 1);
    let message = app.event_messages("bad_response").await.remove(0);
    assert!(message.contains("groups"), "{message}");
    assert_eq!(
        app.snapshot().await,
        before,
        "never taken as the end of the data"
    );
    assert_eq!(app.watermark().await, watermark);
    assert_eq!(app.events("deletion_guard").await, 0);
}

#[tokio::test]
async fn data_without_groups_then_a_good_answer_succeeds_after_retries() {
    let app = spawn_app(6).await;
    app.api.push_fault(json_response(200, NO_GROUPS));
    app.api.push_fault(json_response(200, NO_GROUPS));

    let report = app.sync().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(app.events("retry").await, 2);
    assert_eq!(app.events("bad_response").await, 0);
    assert_eq!(app.live_groups().await, 6);
    assert_eq!(app.scalar("SELECT pages FROM sync_runs").await, 1);
}
