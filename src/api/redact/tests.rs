use super::*;

const KEY: &str = "sk/live+Qx7Zp2Wm9Rt4Vb8N==";

fn redactor(key: &str) -> Redactor {
    Redactor::new(&ApiKey::new(key).expect("a key"))
}

/// Every character as `\uXXXX`, in the hex case asked for.
fn unicode_escaped(key: &str, upper: bool) -> String {
    let mut out = String::new();
    for unit in key.encode_utf16() {
        let hex = format!("{unit:04x}");
        out.push_str("\\u");
        out.push_str(&if upper { hex.to_uppercase() } else { hex });
    }
    out
}

/// Every character but ASCII letters and digits as `%XX`, in the hex case asked for.
fn percent_encoded(key: &str, upper: bool) -> String {
    let mut out = String::new();
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() {
            out.push(char::from(byte));
        } else if upper {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push_str(&format!("%{byte:02x}"));
        }
    }
    out
}

fn cleaned_body(key: &str, body: &str) -> String {
    String::from_utf8(redactor(key).clean_body(body.as_bytes()).into_owned()).expect("utf-8")
}

#[test]
fn the_key_as_sent_is_redacted_from_a_body() {
    let body = format!(r#"{{"error":"Invalid key {KEY}"}}"#);
    assert_eq!(
        cleaned_body(KEY, &body),
        r#"{"error":"Invalid key [redacted]"}"#
    );
}

#[test]
fn the_key_with_its_slashes_json_escaped_is_redacted_from_a_body() {
    let echoed = KEY.replace('/', "\\/");
    let body = format!(r#"{{"error":"Bearer {echoed} refused"}}"#);
    assert_eq!(
        cleaned_body(KEY, &body),
        r#"{"error":"Bearer [redacted] refused"}"#
    );
}

#[test]
fn the_key_unicode_escaped_in_either_hex_case_is_redacted_from_a_body() {
    for upper in [false, true] {
        let body = format!(r#"{{"k":"{}"}}"#, unicode_escaped(KEY, upper));
        assert_eq!(cleaned_body(KEY, &body), r#"{"k":"[redacted]"}"#);
    }
}

#[test]
fn the_key_with_only_some_characters_escaped_is_redacted_from_a_body() {
    let mixed = "\\u0073k\\/live\\u002bQx7Zp2Wm9Rt4Vb8N\\u003D=";
    let body = format!(r#"{{"k":"{mixed}","n":1}}"#);
    assert_eq!(cleaned_body(KEY, &body), r#"{"k":"[redacted]","n":1}"#);
    let late = "sk/live+Qx7Zp2Wm9Rt4Vb8N=\\u003d";
    assert_eq!(cleaned_body(KEY, &format!("({late})")), "([redacted])");
}

#[test]
fn the_key_percent_encoded_in_either_hex_case_is_redacted_from_a_body() {
    for upper in [false, true] {
        let link = format!(
            "https:\\/\\/x\\/?page=2&key={}",
            percent_encoded(KEY, upper)
        );
        let body = format!(r#"{{"next_page_url":"{link}"}}"#);
        assert_eq!(
            cleaned_body(KEY, &body),
            r#"{"next_page_url":"https:\/\/x\/?page=2&key=[redacted]"}"#
        );
    }
}

#[test]
fn a_space_sent_as_plus_or_percent_twenty_is_still_the_key() {
    let key = "my secret key 42";
    for echoed in ["my+secret+key+42", "my%20secret%20key%2042"] {
        assert_eq!(
            cleaned_body(key, &format!("k={echoed}&x=1")),
            "k=[redacted]&x=1"
        );
    }
}

#[test]
fn a_percent_encoded_key_json_escaped_again_is_redacted() {
    let echoed = percent_encoded(KEY, true).replace('%', "\\u0025");
    assert_eq!(
        cleaned_body(KEY, &format!("\"{echoed}\"")),
        "\"[redacted]\""
    );
}

#[test]
fn a_key_beyond_ascii_is_found_through_surrogates_and_utf8_percent_escapes() {
    let key = "clé-🔑-0123456789";
    let escaped = unicode_escaped(key, false);
    assert!(escaped.contains("\\ud83d\\udd11"), "{escaped}");
    assert_eq!(
        cleaned_body(key, &format!("\"{escaped}\"")),
        "\"[redacted]\""
    );
    let mut percent = String::new();
    for byte in key.bytes() {
        percent.push_str(&format!("%{byte:02X}"));
    }
    assert_eq!(cleaned_body(key, &format!("q={percent}")), "q=[redacted]");
}

#[test]
fn every_echo_in_one_body_is_redacted_and_the_json_stays_valid() {
    let body = format!(
        r#"{{"a":"{KEY}","b":"{}","c":[{{"d":"x{}y"}}]}}"#,
        KEY.replace('/', "\\/"),
        percent_encoded(KEY, false)
    );
    let cleaned = cleaned_body(KEY, &body);
    let value: serde_json::Value = serde_json::from_str(&cleaned).expect("still JSON");
    assert_eq!(value["a"], "[redacted]");
    assert_eq!(value["b"], "[redacted]");
    assert_eq!(value["c"][0]["d"], "x[redacted]y");
}

#[test]
fn a_body_without_the_key_is_borrowed_unchanged() {
    let body = r#"{"url":"https:\/\/x\/a%2Fb","name":"sk\/live+Qx7 is not the key"}"#;
    let cleaned = redactor(KEY).clean_body(body.as_bytes());
    assert!(matches!(cleaned, Cow::Borrowed(_)));
}

#[test]
fn a_body_is_not_cleaned_of_mere_fragments_of_the_key() {
    let body = r#"{"name":"Qx7Zp2Wm9Rt4Vb8N"}"#;
    assert_eq!(cleaned_body(KEY, body), body);
}

#[test]
fn a_text_loses_any_ten_character_fragment_of_the_key_in_any_form() {
    let r = redactor(KEY);
    for fragment in [
        "Zp2Wm9Rt4V".to_owned(),
        "sk\\/live+Qx".to_owned(),
        unicode_escaped("7Zp2Wm9Rt4", true),
        percent_encoded("live+Qx7Zp", false),
    ] {
        let text = format!("before {fragment} after");
        assert_eq!(r.clean_text(&text), "before [redacted] after", "{fragment}");
    }
}

#[test]
fn a_text_cut_short_inside_the_key_loses_the_start_of_it() {
    let r = redactor(KEY);
    assert_eq!(r.clean_text("Invalid key sk/li"), "Invalid key [redacted]");
    assert_eq!(
        r.clean_text("Invalid key sk\\/live\\u00"),
        "Invalid key [redacted]"
    );
    assert_eq!(
        r.clean_text("{\"error\":\"Bearer sk%2Flive%2"),
        "{\"error\":\"Bearer [redacted]"
    );
}

#[test]
fn ordinary_text_is_left_alone() {
    let r = redactor(KEY);
    for text in [
        "API answered 500: Internal Server Error",
        "sk/ is a prefix too short to mean anything",
        "Qx7Zp2Wm9 is nine characters of the key, in the middle",
        "live+Qx7 and Zp2Wm9 and 0123456789",
        "",
    ] {
        assert!(matches!(r.clean_text(text), Cow::Borrowed(_)), "{text}");
    }
}

#[test]
fn a_short_key_is_matched_whole_not_by_ten_characters() {
    let r = redactor("test-key");
    assert_eq!(
        r.clean_text("Bearer test-key refused"),
        "Bearer [redacted] refused"
    );
    assert_eq!(r.clean_text("a test-ke"), "a [redacted]");
    assert_eq!(r.clean_text("test-kex"), "test-kex");
}

#[test]
fn the_redactor_never_prints_the_key() {
    assert_eq!(format!("{:?}", redactor(KEY)), "Redactor { .. }");
}
