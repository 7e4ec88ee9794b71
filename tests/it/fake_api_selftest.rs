//! Checks of the fake API itself, so a failing daemon test can trust its counterpart.

use std::time::Duration;

use serde_json::Value;

use crate::fake_api::{
    FakeApi, FakeOptions, Fault, LinkLocation, MessageCount, MetaLocation, Pagination, Shape,
};
use crate::helpers::eventually;

async fn fake(groups: usize, f: impl FnOnce(&mut FakeOptions)) -> FakeApi {
    let mut opts = FakeOptions {
        groups,
        ..FakeOptions::default()
    };
    f(&mut opts);
    FakeApi::start(opts).await.unwrap()
}

async fn get_raw(url: &str, key: Option<&str>) -> reqwest::Result<reqwest::Response> {
    let mut req = reqwest::Client::new().get(url);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await
}

async fn get(url: &str, key: Option<&str>) -> (u16, Value) {
    let resp = get_raw(url, key).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn ids(records: &[Value]) -> Vec<i64> {
    records.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn every_shape_carries_the_records() {
    let api = fake(3, |_| {}).await;
    let url = api.api_url();
    let (status, body) = get(&url, Some("test-key")).await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "Groups found: 3");
    assert_eq!(ids(body["data"]["groups"].as_array().unwrap()), [1, 2, 3]);
    assert_eq!(
        body["data"]["groups"][0]["tier"], "silver",
        "an unknown field is served"
    );

    api.set_shape(Shape::ObjectMap);
    let (_, body) = get(&url, Some("test-key")).await;
    let map = body["data"]["groups"].as_object().unwrap();
    assert_eq!(map.keys().collect::<Vec<_>>(), ["0", "1", "2"]);

    api.set_shape(Shape::Single);
    let (_, body) = get(&url, Some("test-key")).await;
    assert_eq!(body["data"]["groups"]["id"], 1);

    api.set_shape(Shape::DataArray);
    api.remove_groups(&[1, 2, 3]);
    let (_, body) = get(&url, Some("test-key")).await;
    assert_eq!(body["data"], serde_json::json!([]));
    assert_eq!(body["message"], "Groups found: 0");
}

#[tokio::test]
async fn next_url_pagination_walks_all_pages_keeping_the_query() {
    let api = fake(5, |o| {
        o.business_codes = vec![1, 2];
        o.pagination = Pagination::NextUrl {
            location: LinkLocation::TopLevel,
            absolute: true,
        };
        o.per_page = 2;
    })
    .await;
    let (mut seen, mut url) = (
        Vec::new(),
        Some(format!("{}?business_code=1", api.api_url())),
    );
    while let Some(u) = url {
        let (_, body) = get(&u, Some("test-key")).await;
        assert_eq!(
            body["message"], "Groups found: 3",
            "a total, not a page count"
        );
        seen.extend(ids(body["data"]["groups"].as_array().unwrap()));
        url = body["next_page_url"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, [1, 3, 5]);
    let pages: Vec<_> = api
        .requests()
        .iter()
        .map(|r| r.query_value("page").map(str::to_owned))
        .collect();
    assert_eq!(pages, [None, Some("2".to_owned())]);
    assert!(api
        .requests()
        .iter()
        .all(|r| r.query_value("business_code") == Some("1")));

    api.set_pagination(
        Pagination::NextUrl {
            location: LinkLocation::LinksNext,
            absolute: false,
        },
        2,
    );
    let (_, body) = get(&api.api_url(), Some("test-key")).await;
    assert_eq!(body["links"]["next"], "/api/v1/customer-groups?page=2");
}

#[tokio::test]
async fn numbered_pagination_reports_pages_in_meta() {
    let api = fake(5, |o| {
        o.pagination = Pagination::Numbered {
            location: MetaLocation::InMeta,
        };
        o.per_page = 2;
        o.shape = Shape::ObjectMap;
    })
    .await;
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (_, body) = get(&format!("{}?page={page}", api.api_url()), Some("test-key")).await;
        let meta = &body["meta"];
        assert_eq!(
            (meta["current_page"].as_i64(), meta["last_page"].as_i64()),
            (Some(page), Some(3))
        );
        let map = body["data"]["groups"].as_object().unwrap();
        assert!(
            map.contains_key(&((page - 1) * 2).to_string()),
            "PHP keys are global positions"
        );
        seen.extend(map.values().map(|r| r["id"].as_i64().unwrap()));
    }
    assert_eq!(seen, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn filters_raw_records_and_message_count() {
    let api = fake(10, |o| o.business_codes = vec![1, 2]).await;
    api.update_groups(&[4, 6], "2030-01-02 03:04:05");
    api.put_raw(r#"{"id":"abc","group_name":{"x":1}}"#);
    api.put_raw(r#"{"id":6,"business_code":2,"updated_at":"2030-01-05 00:00:00","extra":[1]}"#);
    let url = format!("{}?business_code=2&updated_at=2030-01-02", api.api_url());
    let (_, body) = get(&url, Some("test-key")).await;
    let records = body["data"]["groups"].as_array().unwrap();
    assert_eq!(records[0]["group_name"], "Group 4 v1");
    assert_eq!(
        records[1]["extra"],
        serde_json::json!([1]),
        "raw record 6 replaced group 6"
    );
    assert_eq!(
        records[2]["id"], "abc",
        "an id-less raw record ends the last page"
    );
    assert_eq!(body["message"], "Groups found: 3");

    api.honour_updated_at_filter(false);
    api.set_message_count(MessageCount::Fixed(99));
    let (_, body) = get(&url, Some("test-key")).await;
    assert_eq!(body["data"]["groups"].as_array().unwrap().len(), 6);
    assert_eq!(body["message"], "Groups found: 99");
}

#[tokio::test]
async fn auth_is_checked_and_requests_are_recorded_first() {
    let api = fake(1, |_| {}).await;
    let (status, body) = get(&api.api_url(), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("Unauthorized: Missing Bearer Token"))
    );
    let (status, body) = get(&api.api_url(), Some("wrong")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("Unauthorized: Invalid API Key"))
    );
    api.set_api_key(None);
    assert_eq!(get(&api.api_url(), Some("anything")).await.0, 200);
    let auth: Vec<_> = api
        .requests()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert_eq!(
        auth,
        [
            None,
            Some("Bearer wrong".into()),
            Some("Bearer anything".into())
        ]
    );
}

#[tokio::test]
async fn queued_faults_apply_in_order_then_the_api_recovers() {
    let api = fake(2, |_| {}).await;
    let body = "{\"status\":503}".to_owned();
    api.push_fault(Fault::Status {
        status: 503,
        body,
        retry_after: Some("1".into()),
    });
    api.push_fault(Fault::Truncated);
    api.push_fault(Fault::Slow {
        delay: Duration::from_millis(50),
    });

    let resp = get_raw(&api.api_url(), Some("test-key")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let resp = get_raw(&api.api_url(), Some("test-key")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.bytes().await.is_err(),
        "a truncated body is a body error"
    );
    for _ in 0..2 {
        let (status, body) = get(&api.api_url(), Some("test-key")).await;
        assert_eq!(
            (status, ids(body["data"]["groups"].as_array().unwrap())),
            (200, vec![1, 2])
        );
    }
    assert_eq!(api.request_count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_is_deterministic_and_shutdown_stops_serving() {
    let a = fake(50, |o| o.seed = 7).await;
    let b = fake(50, |o| o.seed = 7).await;
    let text = |api: &FakeApi| {
        let url = api.api_url();
        async move {
            get_raw(&url, Some("test-key"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(text(&a).await, text(&b).await);
    b.shutdown();
    let url = b.api_url();
    eventually("the stopped fake to refuse connections", || async {
        get_raw(&url, Some("test-key")).await.is_err().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_status_fault_queued_over_http_has_a_body_whose_status_matches() {
    let api = fake(3, |o| o.api_key = None).await;
    let control = format!("{}/_fake/fault?kind=status&status=503", api.base_url());
    let queued = reqwest::Client::new().post(&control).send().await.unwrap();
    assert_eq!(queued.status().as_u16(), 200);

    let (status, body) = get(&api.api_url(), Some("any")).await;

    assert_eq!(status, 503);
    assert_eq!(body["status"], 503, "{body}");
    assert_eq!(body["error"], "Service Unavailable", "{body}");
}
