use chrono::NaiveDateTime;
use serde_json::value::RawValue;

use super::parse_record;
use crate::api::{BadTimestamp, GroupRecord, RejectedRecord};

fn parse(text: &str) -> Result<GroupRecord, RejectedRecord> {
    let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
    parse_record(&raw)
}

fn accepted(text: &str) -> GroupRecord {
    parse(text).unwrap()
}

fn reason(text: &str) -> String {
    let rejected = parse(text).unwrap_err();
    assert_eq!(rejected.raw_json, text, "a rejected record is kept whole");
    rejected.reason
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
}

#[test]
fn documented_sample_record_is_typed() {
    let text = r#"{"id":1,"group_name":"Premium Customers","group_description":"Big spenders","created_at":"2024-08-04 08:23:45","updated_at":"2024-08-04 02:00:43"}"#;
    let record = accepted(text);
    assert_eq!(record.id, 1);
    assert_eq!(record.group_name.as_deref(), Some("Premium Customers"));
    assert_eq!(record.group_description.as_deref(), Some("Big spenders"));
    assert_eq!(record.created_at, Some(at("2024-08-04 08:23:45")));
    assert_eq!(record.updated_at, Some(at("2024-08-04 02:00:43")));
    assert!(record.bad_timestamps.is_empty());
}

#[test]
fn updated_before_created_is_not_rejected() {
    let record =
        accepted(r#"{"id":1,"created_at":"2024-08-04 08:00:00","updated_at":"2020-01-01"}"#);
    assert_eq!(record.updated_at, Some(at("2020-01-01 00:00:00")));
}

#[test]
fn raw_json_is_the_exact_text_with_unknown_fields() {
    let text = r#"{ "id" : 7, "colour": {"r": 1.50}, "tags": ["a"] }"#;
    assert_eq!(accepted(text).raw_json, text);
}

#[test]
fn escapes_are_decoded_in_group_name_and_kept_in_raw_json() {
    let text = r#"{"id":1,"group_name":"Caf\u00e9 \"VIP\"","group_description":"a\nb"}"#;
    let record = accepted(text);
    assert_eq!(record.group_name.as_deref(), Some("Café \"VIP\""));
    assert_eq!(record.group_description.as_deref(), Some("a\nb"));
    assert_eq!(record.raw_json, text);
}

#[test]
fn escaped_key_is_recognised() {
    assert_eq!(accepted(r#"{"\u0069d":3}"#).id, 3);
}

#[test]
fn digit_string_id_is_accepted() {
    assert_eq!(accepted(r#"{"id":"42"}"#).id, 42);
}

#[test]
fn missing_id_is_rejected() {
    assert_eq!(reason(r#"{"group_name":"x"}"#), "no id");
}

#[test]
fn null_id_is_rejected() {
    assert_eq!(reason(r#"{"id":null}"#), "no id");
}

#[test]
fn non_digit_id_string_is_rejected() {
    assert_eq!(
        reason(r#"{"id":"abc"}"#),
        r#"id "abc" is not a positive integer"#
    );
}

#[test]
fn zero_and_negative_ids_are_rejected() {
    assert_eq!(reason(r#"{"id":0}"#), "id 0 is not a positive integer");
    assert_eq!(reason(r#"{"id":-5}"#), "id -5 is not a positive integer");
    assert_eq!(
        reason(r#"{"id":"-5"}"#),
        r#"id "-5" is not a positive integer"#
    );
}

#[test]
fn fractional_and_exponent_ids_are_rejected() {
    assert_eq!(reason(r#"{"id":1.5}"#), "id 1.5 is not a positive integer");
    assert_eq!(reason(r#"{"id":1e3}"#), "id 1e3 is not a positive integer");
}

#[test]
fn id_beyond_i64_is_rejected() {
    assert_eq!(
        reason(r#"{"id":9223372036854775808}"#),
        "id 9223372036854775808 is not a positive integer"
    );
}

#[test]
fn object_id_is_rejected_with_a_short_excerpt() {
    let long = format!(r#"{{"id":{{"k":"{}"}}}}"#, "x".repeat(200));
    let reason = reason(&long);
    assert!(reason.starts_with(r#"id {"k":"xxx"#), "{reason}");
    assert!(reason.chars().count() < 120, "{reason}");
}

#[test]
fn object_group_name_is_rejected() {
    assert_eq!(
        reason(r#"{"id":1,"group_name":{"en":"x"}}"#),
        "group_name is an object, expected a string or null"
    );
}

#[test]
fn numeric_group_description_is_rejected() {
    assert_eq!(
        reason(r#"{"id":1,"group_description":12}"#),
        "group_description is a number, expected a string or null"
    );
}

#[test]
fn undecodable_group_name_is_rejected() {
    assert_eq!(
        reason(r#"{"id":1,"group_name":"\ud800"}"#),
        r#"group_name "\ud800" is not valid text"#
    );
}

#[test]
fn null_names_are_none() {
    let record = accepted(r#"{"id":1,"group_name":null,"group_description":null}"#);
    assert_eq!(record.group_name, None);
    assert_eq!(record.group_description, None);
}

#[test]
fn non_object_record_is_rejected() {
    assert_eq!(reason("5"), "record is a number, expected an object");
    assert_eq!(reason("[1]"), "record is an array, expected an object");
    assert_eq!(reason("null"), "record is null, expected an object");
    assert_eq!(reason(r#""x""#), "record is a string, expected an object");
}

#[test]
fn business_code_integer_or_digit_string_is_read() {
    assert_eq!(
        accepted(r#"{"id":1,"business_code":12}"#).business_code,
        Some(12)
    );
    assert_eq!(
        accepted(r#"{"id":1,"business_code":"12"}"#).business_code,
        Some(12)
    );
}

#[test]
fn odd_business_code_is_none_not_a_rejection() {
    for value in ["1.5", r#""B12""#, "{}", "true", "null"] {
        let record = accepted(&format!(r#"{{"id":1,"business_code":{value}}}"#));
        assert_eq!(record.business_code, None, "{value}");
    }
}

#[test]
fn absent_or_null_timestamps_are_none_without_complaint() {
    let record = accepted(r#"{"id":1,"created_at":null}"#);
    assert_eq!((record.created_at, record.updated_at), (None, None));
    assert!(record.bad_timestamps.is_empty());
}

#[test]
fn unreadable_timestamp_is_none_and_reported() {
    let record = accepted(r#"{"id":1,"created_at":"2024-02-30 00:00:00"}"#);
    assert_eq!(record.created_at, None);
    assert_eq!(
        record.bad_timestamps,
        vec![BadTimestamp {
            field: "created_at",
            raw_value: r#""2024-02-30 00:00:00""#.to_owned(),
        }]
    );
}

#[test]
fn non_string_timestamps_are_none_and_reported_as_json_text() {
    let record = accepted(r#"{"id":1,"created_at":1722759825,"updated_at":{"date":"x"}}"#);
    assert_eq!((record.created_at, record.updated_at), (None, None));
    let raw: Vec<_> = record
        .bad_timestamps
        .iter()
        .map(|bad| (bad.field, bad.raw_value.as_str()))
        .collect();
    assert_eq!(
        raw,
        [
            ("created_at", "1722759825"),
            ("updated_at", r#"{"date":"x"}"#)
        ]
    );
}

#[test]
fn timestamps_with_offsets_are_stored_in_utc() {
    let record = accepted(r#"{"id":1,"updated_at":"2024-08-04T10:00:00+02:00"}"#);
    assert_eq!(record.updated_at, Some(at("2024-08-04 08:00:00")));
}

#[test]
fn repeated_key_keeps_its_last_value() {
    let record = accepted(r#"{"id":1,"group_name":"old","group_name":"new","id":2}"#);
    assert_eq!((record.id, record.group_name.as_deref()), (2, Some("new")));
}
