//! No input may panic the parser: envelope-shaped JSON with random values, mutated real
//! bodies, random JSON and random bytes, generated and shrunk by proptest.
//!
//! JSON is generated as text rather than through `serde_json::Value`, so that duplicate keys,
//! numbers past `i64` and `u64`, and raw escapes reach the parser as an API could send them.
//! CI runs a few hundred cases per test; `PROPTEST_CASES` raises them.

use proptest::prelude::*;
use proptest::sample::select;

use super::{parse_body, Content};
use crate::test_support::proptest_cases;

/// Keys the parser looks for, at any level, and a few it does not.
const KEYS: &[&str] = &[
    "id",
    "business_code",
    "group_name",
    "group_description",
    "created_at",
    "updated_at",
    "data",
    "groups",
    "status",
    "message",
    "error",
    "meta",
    "links",
    "next",
    "next_page_url",
    "current_page",
    "last_page",
    "0",
    "1",
    "10",
    "x",
];

/// String contents as they appear between the quotes, escapes included.
const STRINGS: &[&str] = &[
    "",
    "7",
    "-3",
    "abc",
    "2024-08-04 08:23:45",
    "2024-8-4T8:3:5+02:00",
    "2024-02-30",
    "0000-00-00 00:00:00",
    "+262143-12-31T23:59:59Z",
    "Caf\\u00e9",
    "\\ud800",
    "\\\"q\\\"",
    "Groups found: 3",
    "Groups found: 99999999999999999999999",
    "/p?page=2",
    "http://[::1]:0/p?page=9223372036854775807",
];

/// Number literals, including ones no integer type holds.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "1.5",
    "1e3",
    "1e400",
    "-1e400",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "0.0000000000000000000000001",
];

fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(STRINGS).prop_map(|s| format!("\"{s}\"")),
        1 => any::<String>().prop_map(|s| serde_json::Value::String(s).to_string()),
    ]
}

fn json_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec!["null", "true", "false"]).prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
        select(NUMBERS).prop_map(str::to_owned),
        json_string(),
        json_string(),
    ]
}

fn object_of(entries: Vec<(String, String)>) -> String {
    let fields: Vec<String> = entries
        .into_iter()
        .map(|(key, value)| format!("\"{key}\":{value}"))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// Any JSON text, nested a few levels, with the parser's keys (repeated at times).
fn json_value() -> impl Strategy<Value = String> {
    json_leaf().prop_recursive(4, 32, 5, |inner| {
        let key = prop_oneof![4 => select(KEYS).prop_map(str::to_owned), 1 => "[a-z_]{0,6}"];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((key, inner), 0..6).prop_map(object_of),
        ]
    })
}

/// A record: the known fields, each a plausible or a random value.
fn record() -> impl Strategy<Value = String> {
    let id = prop_oneof![
        (-3i64..6).prop_map(|n| n.to_string()),
        json_leaf(),
        Just("\"12\"".to_owned()),
    ];
    let time = prop_oneof![json_string(), json_leaf()];
    let fields = (
        id,
        prop::option::of(json_value()),
        prop::option::of(json_string()),
        prop::option::of(time.clone()),
        prop::option::of(time),
    );
    fields.prop_map(|(id, code, name, created, updated)| {
        let mut entries = vec![("id".to_owned(), id)];
        let optional = [
            ("business_code", code),
            ("group_name", name),
            ("created_at", created),
            ("updated_at", updated),
        ];
        entries.extend(
            optional
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v?))),
        );
        object_of(entries)
    })
}

/// The records as an array, as an object keyed by position, or as anything at all.
fn group_list() -> impl Strategy<Value = String> {
    let records = || prop::collection::vec(record(), 0..6);
    prop_oneof![
        records().prop_map(|r| format!("[{}]", r.join(","))),
        records().prop_map(|r| object_of(
            r.into_iter()
                .enumerate()
                .map(|(i, r)| (i.to_string(), r))
                .collect()
        )),
        json_value(),
    ]
}

/// An envelope: some of the top-level keys docs/upstream-api.md lists, each shaped as the API
/// sends it or replaced by any value, around a list of records.
fn envelope() -> impl Strategy<Value = String> {
    let data = prop_oneof![
        group_list(),
        (group_list(), pagination()).prop_map(|(groups, mut entries)| {
            entries.insert(0, ("groups".to_owned(), groups));
            object_of(entries)
        }),
        json_value(),
    ];
    let others = prop::collection::vec(
        prop_oneof![
            pagination().prop_map(|e| ("meta".to_owned(), object_of(e))),
            pagination().prop_map(|e| ("links".to_owned(), object_of(e))),
            pagination().prop_map(|e| e.into_iter().next().unwrap_or_default()),
            (select(KEYS), json_value()).prop_map(|(k, v)| (k.to_owned(), v)),
        ],
        0..5,
    );
    let data = prop::option::weighted(0.9, data.prop_map(|v| ("data".to_owned(), v)));
    (data, others, any::<prop::sample::Index>()).prop_map(|(data, mut entries, at)| {
        if let Some(data) = data {
            entries.insert(at.index(entries.len() + 1), data);
        }
        object_of(entries)
    })
}

/// Pagination hints, as they appear at the top level, in `data`, `meta` or `links`.
fn pagination() -> impl Strategy<Value = Vec<(String, String)>> {
    let value = prop_oneof![
        (0u64..4).prop_map(|n| n.to_string()),
        Just("\"/p?page=2\"".to_owned()),
        json_leaf(),
    ];
    let key = select(vec!["current_page", "last_page", "next_page_url", "next"]);
    prop::collection::vec((key.prop_map(str::to_owned), value), 0..3)
}

/// A body as the API sends it, in each of its shapes.
fn valid_body() -> impl Strategy<Value = String> {
    let records = prop::collection::vec((1i64..4, 1u32..10), 0..6).prop_map(|records| {
        records
            .into_iter()
            .enumerate()
            .map(|(i, (id, day))| {
                format!(
                    r#"{{"id":{id},"group_name":"G\u00e9 {i}","created_at":"2024-08-0{day} 08:23:45","updated_at":"2024-8-4T1:2:3Z"}}"#
                )
            })
            .collect::<Vec<_>>()
    });
    (records, 0u32..4).prop_map(|(records, shape)| {
        let list = records.join(",");
        let map: Vec<String> = (records.iter().enumerate())
            .map(|(i, r)| format!(r#""{i}":{r}"#))
            .collect();
        match shape {
            0 => format!(
                r#"{{"status":200,"message":"Groups found: 2","data":{{"groups":[{list}]}}}}"#
            ),
            1 => format!(
                r#"{{"data":{{"groups":{{{}}}}},"meta":{{"current_page":1,"last_page":2}}}}"#,
                map.join(",")
            ),
            2 => format!(r#"{{"data":[{list}],"links":{{"next":"/p?page=2"}}}}"#),
            _ => format!("[{list}]"),
        }
    })
}

/// One edit of a body: cut it, overwrite, insert or remove a byte at a position (taken
/// modulo the length, so shrinking keeps edits valid).
#[derive(Clone, Debug)]
enum Edit {
    Truncate(usize),
    Overwrite(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![
        select(b"{}[]\",:0123456789-eE.tfn\\u \xff".to_vec()),
        any::<u8>(),
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Edit::Overwrite(at, b)),
        (any::<usize>(), byte).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Remove),
    ]
}

fn apply(body: &mut Vec<u8>, edit: &Edit) {
    let len = body.len();
    match *edit {
        Edit::Truncate(at) => body.truncate(at % (len + 1)),
        Edit::Insert(at, b) => body.insert(at % (len + 1), b),
        Edit::Overwrite(at, b) if len > 0 => body[at % len] = b,
        Edit::Remove(at) if len > 0 => {
            body.remove(at % len);
        }
        Edit::Overwrite(..) | Edit::Remove(_) => {}
    }
}

/// Parses `body` (a panic fails the case) and checks what every parse must keep: each record
/// counted once, ids positive, the raw JSON kept still JSON.
fn check(body: &[u8]) -> Result<(), TestCaseError> {
    let Ok(parsed) = parse_body(body) else {
        return Ok(());
    };
    let _ = parsed.announced_count();
    if let Content::Groups(groups) = parsed.content {
        let kept = groups.records.len() + groups.rejected.len() + groups.duplicate_ids.len();
        prop_assert_eq!(kept, groups.received);
        for record in &groups.records {
            prop_assert!(record.id > 0);
            prop_assert!(is_json(&record.raw_json), "{}", record.raw_json);
        }
        for rejected in &groups.rejected {
            prop_assert!(is_json(&rejected.raw_json), "{}", rejected.raw_json);
        }
    }
    Ok(())
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(proptest_cases(512)))]

    #[test]
    fn envelope_shaped_json_never_panics(body in envelope()) {
        check(body.as_bytes())?;
    }

    #[test]
    fn mutated_valid_bodies_never_panic(
        body in valid_body(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let mut bytes = body.into_bytes();
        check(&bytes)?;
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        check(&bytes)?;
    }

    #[test]
    fn random_json_never_panics(body in json_value()) {
        check(body.as_bytes())?;
    }

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..128)) {
        check(&body)?;
    }
}

#[test]
fn deeply_nested_values_do_not_overflow_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let body = format!(r#"{{"data":{{"groups":[{{"id":1,"x":{deep}}},{deep}]}}}}"#);
    let Content::Groups(groups) = parse_body(body.as_bytes()).unwrap().content else {
        panic!("expected groups");
    };
    assert_eq!((groups.records.len(), groups.rejected.len()), (1, 1));
}
