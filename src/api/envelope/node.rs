//! Borrowed views of one level of a JSON body, read by hand-written serde visitors so that a
//! level costs one scan of its text and no allocation per nested value.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::is_digits;
use crate::api::record::Text;

/// A JSON value at a level where the envelope may be: an object's interesting keys, an
/// array's elements, or the type of anything else.
pub(super) enum Node<'a> {
    Object(Keys<'a>),
    Array(Vec<&'a RawValue>),
    Other(&'static str),
}

/// Every key the envelope, `data`, `meta` or `links` may carry, as the raw text of its value
/// (`null` included, so `"groups": null` is told apart from no `groups`). A repeated key keeps
/// its last value, as PHP's `json_decode` does.
#[derive(Default)]
pub(super) struct Keys<'a> {
    pub(super) status: Option<&'a RawValue>,
    pub(super) message: Option<&'a RawValue>,
    pub(super) error: Option<&'a RawValue>,
    pub(super) data: Option<&'a RawValue>,
    pub(super) meta: Option<&'a RawValue>,
    pub(super) links: Option<&'a RawValue>,
    pub(super) groups: Option<&'a RawValue>,
    pub(super) next_page_url: Option<&'a RawValue>,
    pub(super) current_page: Option<&'a RawValue>,
    pub(super) last_page: Option<&'a RawValue>,
    pub(super) next: Option<&'a RawValue>,
    /// How many keys the object has, known or not.
    pub(super) count: usize,
    /// Whether every key is a string of digits (PHP's encoding of an array).
    pub(super) all_digit_keys: bool,
    /// The first few key names, for the message about an unrecognised `data`.
    first_names: Vec<Cow<'a, str>>,
}

impl Keys<'_> {
    const NAMES_SHOWN: usize = 8;

    /// The object's first key names, for a message.
    pub(super) fn names(&self) -> String {
        let mut names = self.first_names.join(", ");
        if self.count > Self::NAMES_SHOWN {
            names.push_str(", …");
        }
        names
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = Keys {
            all_digit_keys: true,
            ..Keys::default()
        };
        while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
            keys.count += 1;
            keys.all_digit_keys &= is_digits(&name);
            let slot = match name.as_ref() {
                "status" => Some(&mut keys.status),
                "message" => Some(&mut keys.message),
                "error" => Some(&mut keys.error),
                "data" => Some(&mut keys.data),
                "meta" => Some(&mut keys.meta),
                "links" => Some(&mut keys.links),
                "groups" => Some(&mut keys.groups),
                "next_page_url" => Some(&mut keys.next_page_url),
                "current_page" => Some(&mut keys.current_page),
                "last_page" => Some(&mut keys.last_page),
                "next" => Some(&mut keys.next),
                _ => None,
            };
            match slot {
                Some(slot) => *slot = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if keys.first_names.len() < Keys::NAMES_SHOWN {
                keys.first_names.push(name);
            }
        }
        Ok(Node::Object(keys))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Node::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Node::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Node::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Node::Other("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Node::Other("a string"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Node::Other("null"))
    }
}

/// An object's entries in the order written, values as raw text.
pub(super) struct Entries<'a>(pub(super) Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntriesVisitor)
    }
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Entries<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((Text(key), value)) = map.next_entry::<Text<'de>, &'de RawValue>()? {
            entries.push((key, value));
        }
        Ok(Entries(entries))
    }
}
