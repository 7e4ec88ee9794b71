use super::{parse_body, peek_next_link, Content, Groups, NextLink, ParsedBody};

fn parse(body: &str) -> ParsedBody {
    parse_body(body.as_bytes()).unwrap()
}

fn groups(body: &str) -> Groups {
    match parse(body).content {
        Content::Groups(groups) => groups,
        other => panic!("expected groups, got {other:?}"),
    }
}

fn ids(body: &str) -> Vec<i64> {
    groups(body).records.iter().map(|r| r.id).collect()
}

fn is_empty(body: &str) -> bool {
    matches!(parse(body).content, Content::Empty)
}

fn unrecognised(body: &str) -> String {
    match parse(body).content {
        Content::Unrecognised(reason) => reason,
        other => panic!("expected unrecognised, got {other:?}"),
    }
}

fn next(body: &str) -> NextLink {
    parse(body).next
}

const SAMPLE: &str = r#"{
    "status": 200,
    "message": "Groups found: 1",
    "data": {
        "groups": {
            "id": 1,
            "group_name": "Premium Customers",
            "group_description": "Customers who have spent over $1000.",
            "created_at": "2024-08-04 08:23:45",
            "updated_at": "2024-08-04 02:00:43"
        }
    }
}"#;

#[test]
fn documented_sample_is_one_group_object() {
    let body = parse(SAMPLE);
    assert_eq!(body.status, Some(200));
    assert_eq!(body.message.as_deref(), Some("Groups found: 1"));
    let Content::Groups(groups) = body.content else {
        panic!("no groups");
    };
    assert_eq!(groups.received, 1);
    assert_eq!(
        groups.records[0].group_name.as_deref(),
        Some("Premium Customers")
    );
}

#[test]
fn groups_array_is_read_in_order() {
    assert_eq!(
        ids(r#"{"data":{"groups":[{"id":3},{"id":1},{"id":2}]}}"#),
        [3, 1, 2]
    );
}

#[test]
fn php_style_object_map_is_read_in_key_order() {
    let body = r#"{"data":{"groups":{"2":{"id":20},"10":{"id":100},"0":{"id":1}}}}"#;
    assert_eq!(ids(body), [20, 100, 1]);
}

#[test]
fn php_style_map_with_a_non_object_value_rejects_only_that_value() {
    let groups = groups(r#"{"data":{"groups":{"0":{"id":1},"1":5}}}"#);
    assert_eq!(groups.records.len(), 1);
    assert_eq!(groups.rejected[0].raw_json, "5");
    assert_eq!(groups.received, 2);
}

#[test]
fn data_itself_as_array_holds_the_records() {
    assert_eq!(ids(r#"{"status":200,"data":[{"id":1},{"id":2}]}"#), [1, 2]);
}

#[test]
fn data_itself_as_php_style_map_holds_the_records() {
    assert_eq!(ids(r#"{"data":{"1":{"id":1},"3":{"id":3}}}"#), [1, 3]);
}

#[test]
fn top_level_array_is_the_groups_themselves() {
    assert_eq!(ids(r#"[{"id":5},{"id":6}]"#), [5, 6]);
}

#[test]
fn empty_shapes_are_empty() {
    for body in [
        "{}",
        r#"{"status":200,"message":"Groups found: 0"}"#,
        r#"{"data":null}"#,
        r#"{"data":[]}"#,
        r#"{"data":{}}"#,
        r#"{"data":{"groups":[]}}"#,
        r#"{"data":{"groups":null}}"#,
        r#"{"data":{"groups":{}}}"#,
        "[]",
    ] {
        assert!(is_empty(body), "{body}");
    }
}

#[test]
fn pagination_keys_beside_empty_groups_are_still_empty() {
    assert!(is_empty(
        r#"{"data":{"groups":[],"current_page":1,"last_page":1,"total":0}}"#
    ));
}

#[test]
fn data_with_other_keys_is_unrecognised() {
    let reason = unrecognised(r#"{"data":{"items":[{"id":1}]}}"#);
    assert_eq!(reason, "data has keys items but no groups");
}

#[test]
fn data_with_only_pagination_keys_is_unrecognised() {
    let reason = unrecognised(r#"{"data":{"current_page":2,"last_page":3}}"#);
    assert!(reason.contains("current_page, last_page"), "{reason}");
}

#[test]
fn scalar_data_is_unrecognised() {
    for data in [r#""none""#, "0", "true"] {
        let reason = unrecognised(&format!(r#"{{"data":{data}}}"#));
        assert!(reason.starts_with("data is a"), "{reason}");
    }
}

#[test]
fn scalar_groups_are_unrecognised() {
    let reason = unrecognised(r#"{"data":{"groups":"none"}}"#);
    assert_eq!(
        reason,
        "data.groups is a string, expected an array or an object"
    );
}

#[test]
fn scalar_body_is_unrecognised() {
    assert_eq!(unrecognised("null"), "body is null, expected an object");
    assert_eq!(unrecognised("42"), "body is a number, expected an object");
}

#[test]
fn body_that_is_not_json_is_an_error() {
    for body in ["", "<html>502 Bad Gateway</html>", r#"{"data":[{"id":1}"#] {
        assert!(parse_body(body.as_bytes()).is_err(), "{body}");
    }
}

#[test]
fn body_that_is_not_utf8_is_an_error() {
    let error = parse_body(b"{\"message\":\"\xff\"}").unwrap_err();
    assert!(error.contains("UTF-8"), "{error}");
}

#[test]
fn byte_order_mark_is_skipped() {
    let body = format!("\u{feff}{SAMPLE}");
    assert_eq!(parse_body(body.as_bytes()).unwrap().status, Some(200));
}

#[test]
fn body_status_401_under_http_200_is_reported() {
    let body = parse(r#"{"status":401,"error":"Unauthorized: Invalid API Key"}"#);
    assert_eq!(body.status, Some(401));
    assert_eq!(body.error.as_deref(), Some("Unauthorized: Invalid API Key"));
    assert!(matches!(body.content, Content::Empty));
}

#[test]
fn digit_string_status_is_read() {
    assert_eq!(parse(r#"{"status":"403"}"#).status, Some(403));
}

#[test]
fn odd_status_is_none() {
    assert_eq!(parse(r#"{"status":"ok"}"#).status, None);
}

#[test]
fn error_object_is_kept_as_json_text() {
    let body = parse(r#"{"error":{"code":7,"text":"bad"}}"#);
    assert_eq!(body.error.as_deref(), Some(r#"{"code":7,"text":"bad"}"#));
}

#[test]
fn message_escapes_are_decoded() {
    let body = parse(r#"{"message":"Gr\u00fcppen found: 2"}"#);
    assert_eq!(body.message.as_deref(), Some("Grüppen found: 2"));
}

#[test]
fn announced_count_is_read_from_the_message() {
    assert_eq!(parse(SAMPLE).announced_count(), Some(1));
    let body = parse(r#"{"message":"groups   FOUND:   1234 "}"#);
    assert_eq!(body.announced_count(), Some(1234));
}

#[test]
fn message_without_a_count_announces_nothing() {
    for message in [
        "OK",
        "Groups found: many",
        "found: 3 groups",
        "Groups found:",
    ] {
        let body = parse(&format!(r#"{{"message":"{message}"}}"#));
        assert_eq!(body.announced_count(), None, "{message}");
    }
    assert_eq!(parse("{}").announced_count(), None);
}

#[test]
fn escapes_are_preserved_in_raw_json_and_decoded_in_group_name() {
    let record_text = r#"{"id":1,"group_name":"Caf\u00e9 \"A\"","extra":[1,2]}"#;
    let groups = groups(&format!(r#"{{"data":{{"groups":[{record_text}]}}}}"#));
    assert_eq!(groups.records[0].raw_json, record_text);
    assert_eq!(groups.records[0].group_name.as_deref(), Some("Café \"A\""));
}

#[test]
fn rejected_records_are_counted_and_kept_whole() {
    let groups = groups(
        r#"{"data":{"groups":[{"id":1},{"id":"abc"},{"name":"x"},{"id":2,"group_name":{}},7]}}"#,
    );
    assert_eq!(groups.records.len(), 1);
    assert_eq!(groups.received, 5);
    let reasons: Vec<&str> = groups.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            r#"id "abc" is not a positive integer"#,
            "no id",
            "group_name is an object, expected a string or null",
            "record is a number, expected an object",
        ]
    );
    assert_eq!(groups.rejected[1].raw_json, r#"{"name":"x"}"#);
}

#[test]
fn only_rejected_records_are_still_groups() {
    let groups = groups(r#"{"data":{"groups":[{"id":0}]}}"#);
    assert_eq!((groups.records.len(), groups.rejected.len()), (0, 1));
}

#[test]
fn duplicate_id_keeps_latest_updated_at() {
    let groups = groups(
        r#"[{"id":1,"group_name":"new","updated_at":"2024-08-05 00:00:00"},
            {"id":2},
            {"id":1,"group_name":"old","updated_at":"2024-08-04 00:00:00"}]"#,
    );
    let names: Vec<_> = groups
        .records
        .iter()
        .map(|r| (r.id, r.group_name.as_deref()))
        .collect();
    assert_eq!(names, [(1, Some("new")), (2, None)]);
    assert_eq!(groups.duplicate_ids, [1]);
    assert_eq!(groups.received, 3);
}

#[test]
fn duplicate_id_with_equal_updated_at_keeps_the_later_one() {
    let groups = groups(
        r#"[{"id":1,"group_name":"a","updated_at":"2024-08-04"},
            {"id":1,"group_name":"b","updated_at":"2024-08-04 00:00:00"}]"#,
    );
    assert_eq!(groups.records[0].group_name.as_deref(), Some("b"));
}

#[test]
fn duplicate_id_without_updated_at_counts_as_oldest() {
    let groups = groups(
        r#"[{"id":1,"group_name":"dated","updated_at":"2024-08-04"},
            {"id":1,"group_name":"undated"},
            {"id":1,"group_name":"bad","updated_at":"soon"}]"#,
    );
    assert_eq!(groups.records[0].group_name.as_deref(), Some("dated"));
    assert_eq!(groups.duplicate_ids, [1, 1]);
}

#[test]
fn string_and_number_ids_are_the_same_id() {
    let groups = groups(r#"[{"id":"7"},{"id":7}]"#);
    assert_eq!(
        (groups.records.len(), groups.duplicate_ids.as_slice()),
        (1, &[7][..])
    );
}

#[test]
fn top_level_next_page_url_is_followed_as_written() {
    let body = r#"{"data":{"groups":[]},"next_page_url":"/api/v1/customer-groups?page=2"}"#;
    assert_eq!(
        next(body),
        NextLink::Url("/api/v1/customer-groups?page=2".into())
    );
}

#[test]
fn next_page_url_with_php_escaped_slashes_is_decoded() {
    let body = r#"{"next_page_url":"https:\/\/h\/x?page=2"}"#;
    assert_eq!(next(body), NextLink::Url("https://h/x?page=2".into()));
}

#[test]
fn next_page_url_in_data_is_followed() {
    let body = r#"{"data":{"groups":[{"id":1}],"next_page_url":"https://h/x?page=3"}}"#;
    assert_eq!(next(body), NextLink::Url("https://h/x?page=3".into()));
}

#[test]
fn next_page_url_in_meta_is_followed() {
    let body = r#"{"data":[],"meta":{"next_page_url":"https://h/x?page=2"}}"#;
    assert_eq!(next(body), NextLink::Url("https://h/x?page=2".into()));
}

#[test]
fn links_next_is_followed() {
    let body = r#"{"data":[],"links":{"prev":null,"next":"https://h/x?page=2"}}"#;
    assert_eq!(next(body), NextLink::Url("https://h/x?page=2".into()));
}

#[test]
fn null_or_blank_next_link_is_no_next_page() {
    for body in [
        r#"{"next_page_url":null}"#,
        r#"{"next_page_url":""}"#,
        r#"{"links":{"next":null}}"#,
        r#"{"links":[{"url":"https://h/x?page=2"}]}"#,
    ] {
        assert_eq!(next(body), NextLink::None, "{body}");
    }
}

#[test]
fn current_page_below_last_page_asks_for_the_next_page() {
    assert_eq!(
        next(r#"{"current_page":1,"last_page":3}"#),
        NextLink::Page(2)
    );
    assert_eq!(
        next(r#"{"data":{"groups":[],"current_page":"2","last_page":"3"}}"#),
        NextLink::Page(3)
    );
    assert_eq!(
        next(r#"{"meta":{"current_page":4,"last_page":9}}"#),
        NextLink::Page(5)
    );
}

#[test]
fn last_page_reached_is_no_next_page() {
    assert_eq!(next(r#"{"current_page":3,"last_page":3}"#), NextLink::None);
    assert_eq!(next(r#"{"current_page":4,"last_page":3}"#), NextLink::None);
    assert_eq!(next(r#"{"current_page":1}"#), NextLink::None);
}

#[test]
fn link_wins_over_page_numbers() {
    let body = r#"{"current_page":1,"last_page":3,"links":{"next":"/p?page=2"}}"#;
    assert_eq!(next(body), NextLink::Url("/p?page=2".into()));
}

#[test]
fn repeated_envelope_key_keeps_its_last_value() {
    assert_eq!(ids(r#"{"data":[{"id":1}],"data":[{"id":2}]}"#), [2]);
}

#[test]
fn unknown_envelope_keys_are_ignored() {
    let body = r#"{"debug":{"deep":[[[{}]]]},"data":{"groups":[{"id":1}],"total":1},"x":"y"}"#;
    assert_eq!(ids(body), [1]);
}

#[test]
fn last_page_is_read_where_the_page_numbers_are() {
    assert_eq!(
        parse(r#"{"meta":{"current_page":4,"last_page":9}}"#).last_page,
        Some(9)
    );
    assert_eq!(parse(r#"{"last_page":9}"#).last_page, None);
}

#[test]
fn the_peeked_link_is_the_link_the_full_parse_finds() {
    for body in [
        r#"{"data":{"groups":[]},"next_page_url":"/api/v1/customer-groups?page=2"}"#,
        r#"{"next_page_url":"https:\/\/h\/x?page=2"}"#,
        r#"{"data":{"groups":[{"id":1}],"next_page_url":"https://h/x?page=3"}}"#,
        r#"{"data":[],"meta":{"next_page_url":"https://h/x?page=2"}}"#,
        r#"{"data":[],"links":{"prev":null,"next":"https://h/x?page=2"}}"#,
    ] {
        let NextLink::Url(parsed) = next(body) else {
            panic!("the full parse finds a link in {body}");
        };
        assert_eq!(peek_next_link(body.as_bytes()), Some(parsed), "{body}");
    }
}

#[test]
fn nothing_is_peeked_without_a_link() {
    for body in [
        r#"{"current_page":1,"last_page":3}"#,
        r#"{"next_page_url":null}"#,
        r#"[{"id":1}]"#,
        r#"{"data":{"groups":[]}"#,
        "not json",
    ] {
        assert_eq!(peek_next_link(body.as_bytes()), None, "{body}");
    }
}
