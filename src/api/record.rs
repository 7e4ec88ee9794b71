//! One record: typed, or rejected with a reason.
//!
//! A record is read into borrowed slices of its own JSON text (one `&RawValue` per known field)
//! and each field is then judged on its own, so a bad name costs a rejection with a precise
//! reason instead of a serde error about the whole record, and unknown fields cost nothing:
//! they live on in `raw_json`, the record's exact text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::timestamp::normalize;
use super::{BadTimestamp, GroupRecord, RejectedRecord};

/// Types one record of the response; a record that cannot be stored is rejected whole.
pub fn parse_record(raw: &RawValue) -> Result<GroupRecord, RejectedRecord> {
    if first_byte(raw) != b'{' {
        let reason = format!("record is {}, expected an object", kind(raw));
        return Err(rejected(raw, reason));
    }
    let fields: Fields = serde_json::from_str(raw.get())
        .map_err(|e| rejected(raw, format!("record could not be read: {e}")))?;
    let Some(id_value) = fields.id else {
        return Err(rejected(raw, "no id".to_owned()));
    };
    let Some(id) = integer(id_value).filter(|&id| id > 0) else {
        let reason = format!("id {} is not a positive integer", excerpt(id_value));
        return Err(rejected(raw, reason));
    };
    // From here on the API has told us which group this is: a rejection still proves the
    // group exists upstream, so it must never be taken for a deletion.
    let identified = |reason| RejectedRecord {
        id: Some(id),
        ..rejected(raw, reason)
    };
    let group_name = optional_text("group_name", fields.group_name).map_err(identified)?;
    let group_description =
        optional_text("group_description", fields.group_description).map_err(identified)?;
    let mut bad_timestamps = Vec::new();
    let created_at = timestamp("created_at", fields.created_at, &mut bad_timestamps);
    let updated_at = timestamp("updated_at", fields.updated_at, &mut bad_timestamps);
    Ok(GroupRecord {
        id,
        business_code: business_code(fields.business_code),
        group_name,
        group_description,
        created_at,
        updated_at,
        raw_json: raw.get().to_owned(),
        bad_timestamps,
    })
}

/// `business_code` is read leniently: an odd value (a fraction, an object) becomes `None` and
/// the row falls back to the scope's code. Rejecting would lose a record whose id, name and
/// times are all usable over a field the daemon only uses as a label; the exact value still
/// survives in `raw_json`.
fn business_code(value: Option<&RawValue>) -> Option<i64> {
    value.and_then(integer)
}

fn rejected(raw: &RawValue, reason: String) -> RejectedRecord {
    RejectedRecord {
        id: None,
        raw_json: raw.get().to_owned(),
        reason,
    }
}

/// A string field that must be a string or null: anything else would store a lie as the name.
fn optional_text(field: &str, value: Option<&RawValue>) -> Result<Option<String>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    if first_byte(value) != b'"' {
        return Err(format!(
            "{field} is {}, expected a string or null",
            kind(value)
        ));
    }
    match decode_str(value) {
        Some(text) => Ok(Some(text.into_owned())),
        None => Err(format!("{field} {} is not valid text", excerpt(value))),
    }
}

/// A timestamp that cannot be read is not a reason to lose the record: it becomes NULL and is
/// reported, and the raw value survives in `raw_json`.
fn timestamp(
    field: &'static str,
    value: Option<&RawValue>,
    bad: &mut Vec<BadTimestamp>,
) -> Option<chrono::NaiveDateTime> {
    let value = value?;
    let parsed = decode_str(value).and_then(|text| normalize(&text));
    if parsed.is_none() {
        bad.push(BadTimestamp {
            field,
            raw_value: value.get().to_owned(),
        });
    }
    parsed
}

/// The known fields of a record, each the exact JSON text of its value; JSON `null` and an
/// absent key both read as `None`. A key given twice keeps its last value, as PHP's
/// `json_decode` (the API's own stack) does.
#[derive(Default)]
struct Fields<'a> {
    id: Option<&'a RawValue>,
    business_code: Option<&'a RawValue>,
    group_name: Option<&'a RawValue>,
    group_description: Option<&'a RawValue>,
    created_at: Option<&'a RawValue>,
    updated_at: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let slot = match key.0.as_ref() {
                "id" => &mut fields.id,
                "business_code" => &mut fields.business_code,
                "group_name" => &mut fields.group_name,
                "group_description" => &mut fields.group_description,
                "created_at" => &mut fields.created_at,
                "updated_at" => &mut fields.updated_at,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value()?;
        }
        Ok(fields)
    }
}

/// A JSON string, borrowed from the input when it holds no escapes and decoded otherwise.
pub(super) struct Text<'a>(pub(super) Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

/// The first byte of a value's text, which tells its JSON type.
pub(super) fn first_byte(raw: &RawValue) -> u8 {
    raw.get()
        .bytes()
        .find(|b| !b.is_ascii_whitespace())
        .unwrap_or(b' ')
}

/// The JSON type of a value, with its article, for messages.
pub(super) fn kind(raw: &RawValue) -> &'static str {
    match first_byte(raw) {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

/// The decoded text of a JSON string; `None` for any other type, and for a string whose
/// escapes do not make text (a lone UTF-16 surrogate).
pub(super) fn decode_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    if first_byte(raw) != b'"' {
        return None;
    }
    serde_json::from_str::<Text>(raw.get())
        .ok()
        .map(|text| text.0)
}

/// A JSON integer, or a string of ASCII digits (PHP often sends numbers as strings).
/// Fractions, exponents and anything that does not fit an `i64` are not integers.
pub(super) fn integer(raw: &RawValue) -> Option<i64> {
    match first_byte(raw) {
        b'-' | b'0'..=b'9' => raw.get().trim().parse().ok(),
        b'"' => {
            let text = decode_str(raw)?;
            let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| text.parse().ok()).flatten()
        }
        _ => None,
    }
}

/// A value's JSON text, cut short for a message: the whole record is logged beside it anyway.
pub(super) fn excerpt(raw: &RawValue) -> Cow<'_, str> {
    const MAX_CHARS: usize = 60;
    let text = raw.get();
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests;
