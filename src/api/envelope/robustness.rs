//! No input may panic the parser: mutated real bodies, random JSON and random bytes.

use fastrand::Rng;

use super::{parse_body, Content};

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

const STRINGS: &[&str] = &[
    "",
    "7",
    "-3",
    "abc",
    "2024-08-04 08:23:45",
    "2024-8-4T8:3:5+02:00",
    "2024-02-30",
    "Caf\\u00e9",
    "\\ud800",
    "\\\"q\\\"",
    "Groups found: 3",
    "/p?page=2",
];

fn random_json(rng: &mut Rng, depth: u32, out: &mut String) {
    let pick = if depth == 0 {
        rng.u32(0..5)
    } else {
        rng.u32(0..7)
    };
    match pick {
        0 => out.push_str(["null", "true", "false"][rng.usize(0..3)]),
        1 => out.push_str(&rng.i64(-5..1_000).to_string()),
        2 => out.push_str(["1.5", "1e3", "9223372036854775808", "-0", "0"][rng.usize(0..5)]),
        3 | 4 => {
            out.push('"');
            out.push_str(STRINGS[rng.usize(..STRINGS.len())]);
            out.push('"');
        }
        5 => {
            out.push('[');
            for i in 0..rng.usize(0..4) {
                if i > 0 {
                    out.push(',');
                }
                random_json(rng, depth - 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..rng.usize(0..5) {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(KEYS[rng.usize(..KEYS.len())]);
                out.push_str("\":");
                random_json(rng, depth - 1, out);
            }
            out.push('}');
        }
    }
}

fn valid_body(rng: &mut Rng) -> String {
    let records: Vec<String> = (0..rng.usize(0..6))
        .map(|i| {
            format!(
                r#"{{"id":{},"group_name":"G\u00e9 {i}","created_at":"2024-08-0{} 08:23:45","updated_at":"2024-8-4T1:2:3Z"}}"#,
                rng.i64(1..4),
                rng.u32(1..10),
            )
        })
        .collect();
    let list = records.join(",");
    let map: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, r)| format!(r#""{i}":{r}"#))
        .collect();
    match rng.u32(0..4) {
        0 => {
            format!(r#"{{"status":200,"message":"Groups found: 2","data":{{"groups":[{list}]}}}}"#)
        }
        1 => format!(
            r#"{{"data":{{"groups":{{{}}}}},"meta":{{"current_page":1,"last_page":2}}}}"#,
            map.join(",")
        ),
        2 => format!(r#"{{"data":[{list}],"links":{{"next":"/p?page=2"}}}}"#),
        _ => format!("[{list}]"),
    }
}

fn mutate(rng: &mut Rng, body: &mut Vec<u8>) {
    const NOISE: &[u8] = b"{}[]\",:0123456789-eE.tfn\\u \xff";
    for _ in 0..rng.usize(1..4) {
        let at = rng.usize(0..=body.len());
        match rng.u32(0..4) {
            0 => body.truncate(at),
            1 if at < body.len() => body[at] = NOISE[rng.usize(..NOISE.len())],
            2 => body.insert(at, NOISE[rng.usize(..NOISE.len())]),
            _ if at < body.len() => {
                body.remove(at);
            }
            _ => {}
        }
    }
}

fn check(body: &[u8]) {
    let Ok(parsed) = parse_body(body) else {
        return;
    };
    let _ = parsed.announced_count();
    if let Content::Groups(groups) = parsed.content {
        let kept = groups.records.len() + groups.rejected.len() + groups.duplicate_ids.len();
        assert_eq!(kept, groups.received);
        for record in &groups.records {
            assert!(record.id > 0);
            assert!(serde_json::from_str::<serde::de::IgnoredAny>(&record.raw_json).is_ok());
        }
        for rejected in &groups.rejected {
            assert!(serde_json::from_str::<serde::de::IgnoredAny>(&rejected.raw_json).is_ok());
        }
    }
}

#[test]
fn mutated_valid_bodies_never_panic() {
    let mut rng = Rng::with_seed(1);
    for _ in 0..8_000 {
        let mut body = valid_body(&mut rng).into_bytes();
        check(&body);
        mutate(&mut rng, &mut body);
        check(&body);
    }
}

#[test]
fn random_json_never_panics() {
    let mut rng = Rng::with_seed(2);
    for _ in 0..8_000 {
        let mut body = String::new();
        random_json(&mut rng, 4, &mut body);
        check(body.as_bytes());
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::with_seed(3);
    for _ in 0..4_000 {
        let body: Vec<u8> = (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect();
        check(&body);
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
