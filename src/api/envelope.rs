//! Reading the API's envelope: the shapes docs/upstream-api.md lists, pagination hints, body status.
//!
//! The body is read once into borrowed slices (`&RawValue`) of the keys that matter, and each
//! nested part (`data`, `data.groups`, `meta`, `links`) is looked at only when needed, by its
//! first byte. Records are never built into `serde_json::Value`: each goes straight from its
//! own text to a typed [`GroupRecord`] through [`parse_record`].

use std::borrow::Cow;
use std::collections::hash_map::{Entry, HashMap};

use serde_json::value::RawValue;

use super::record::{decode_str, first_byte, integer, kind, parse_record};
use super::{GroupRecord, RejectedRecord};

mod node;

use node::{Entries, Keys, Node};

/// A response body, understood.
#[derive(Debug, Default)]
pub struct ParsedBody {
    /// The body's own `status` field (it may say 401 under HTTP 200).
    pub status: Option<i64>,
    /// The body's `message`, e.g. "Groups found: 20".
    pub message: Option<String>,
    /// The body's `error`, e.g. "Unauthorized: Invalid API Key".
    pub error: Option<String>,
    pub content: Content,
    pub next: NextLink,
    /// `last_page` where the body also says `current_page`: how many pages to expect.
    pub last_page: Option<u64>,
}

impl ParsedBody {
    /// The count announced by a message like "Groups found: 20".
    ///
    /// Only a message that ends with a number after `found:` (any case, any spacing) counts:
    /// the check it feeds (`count_mismatch`) must not fire on a message that merely mentions a
    /// number.
    pub fn announced_count(&self) -> Option<u64> {
        let message = self.message.as_deref()?;
        let lower = message.to_ascii_lowercase();
        let at = lower.rfind("found:")?;
        let count = lower.get(at + "found:".len()..)?.trim();
        is_digits(count).then(|| count.parse().ok()).flatten()
    }
}

/// What the body holds.
#[derive(Debug, Default)]
pub enum Content {
    /// At least one record (stored, rejected or duplicate).
    Groups(Groups),
    /// No data at all: `data` absent, null, `[]`, `{}`, or `{"groups": []}` and the like.
    #[default]
    Empty,
    /// JSON, but none of the known shapes (say `data` holds other keys but no groups).
    Unrecognised(String),
}

/// The records of one response, after de-duplication by id.
#[derive(Debug, Default)]
pub struct Groups {
    pub records: Vec<GroupRecord>,
    pub rejected: Vec<RejectedRecord>,
    /// Ids that appeared more than once; the record with the latest `updated_at`
    /// (then the last one) was kept.
    pub duplicate_ids: Vec<i64>,
    /// Every record in the response, rejected and duplicate ones included.
    pub received: usize,
}

/// Where the next page is, if the response says.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum NextLink {
    #[default]
    None,
    /// `next_page_url` (top level, `data`, `meta`) or `links.next`, as written (maybe relative).
    Url(String),
    /// `current_page` < `last_page`: ask for this page number, other parameters unchanged.
    Page(u64),
}

/// Parses a body; `Err` says, in words, why it is not JSON at all.
///
/// A top-level JSON array is taken as the groups themselves: docs/upstream-api.md accepts `data` as an array,
/// and an API that drops the envelope has left nothing else it could mean. Any other top-level
/// JSON value (a string, a number, `null`) is `Unrecognised`, not an empty result: a body that
/// says nothing must never end a full run and mark every row deleted. A UTF-8 byte-order mark
/// is skipped, as some PHP setups emit one.
pub fn parse_body(body: &[u8]) -> Result<ParsedBody, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    let top: Node = serde_json::from_str(text).map_err(|e| format!("body is not JSON: {e}"))?;
    let parsed = match top {
        Node::Object(keys) => from_envelope(&keys),
        Node::Array(items) => ParsedBody {
            content: records(&items),
            ..ParsedBody::default()
        },
        Node::Other(kind) => ParsedBody {
            content: Content::Unrecognised(format!("body is {kind}, expected an object")),
            ..ParsedBody::default()
        },
    };
    Ok(parsed)
}

/// The next page's link alone, read without the records, so that the next request can start
/// while this page's records are parsed; `None` for no link, page numbers, or anything that
/// is not an envelope. Whatever it finds is checked again against the full parse.
pub fn peek_next_link(body: &[u8]) -> Option<String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).ok()?;
    let Ok(Node::Object(top)) = serde_json::from_str::<Node>(text) else {
        return None;
    };
    let data = object_keys(top.data);
    let meta = object_keys(top.meta);
    let links = object_keys(top.links);
    match next_link(&top, data.as_ref(), meta.as_ref(), links.as_ref()) {
        NextLink::Url(url) => Some(url),
        _ => None,
    }
}

fn from_envelope(top: &Keys) -> ParsedBody {
    let data = top.data.filter(|raw| first_byte(raw) != b'n');
    let data_node = data.map(|raw| (raw, serde_json::from_str::<Node>(raw.get())));
    let content = match &data_node {
        None => Content::Empty,
        Some((raw, Ok(node))) => data_content(raw, node),
        Some((_, Err(e))) => Content::Unrecognised(format!("data could not be read: {e}")),
    };
    let data_keys = match &data_node {
        Some((_, Ok(Node::Object(keys)))) => Some(keys),
        _ => None,
    };
    let meta = object_keys(top.meta);
    let links = object_keys(top.links);
    ParsedBody {
        status: top.status.and_then(integer),
        message: top.message.and_then(text_or_json),
        error: top.error.and_then(text_or_json),
        content,
        next: next_link(top, data_keys, meta.as_ref(), links.as_ref()),
        last_page: page_numbers(top, data_keys, meta.as_ref()).map(|(_, last)| last),
    }
}

/// docs/upstream-api.md's shapes of `data`, which is known not to be null here.
fn data_content(raw: &RawValue, node: &Node) -> Content {
    let keys = match node {
        Node::Array(items) => return records(items),
        Node::Other(kind) => {
            let reason = format!("data is {kind}, expected an object or an array");
            return Content::Unrecognised(reason);
        }
        Node::Object(keys) => keys,
    };
    if let Some(groups) = keys.groups {
        return groups_content(groups);
    }
    if keys.count == 0 {
        return Content::Empty;
    }
    if keys.all_digit_keys {
        // `data` itself in PHP's encoding of a sparse array: the same as `data` as an array.
        return map_or_single(raw);
    }
    Content::Unrecognised(format!("data has keys {} but no groups", keys.names()))
}

/// `data.groups` as an array, a PHP-style map, or one group object (the documented sample).
fn groups_content(groups: &RawValue) -> Content {
    match first_byte(groups) {
        b'n' => Content::Empty,
        b'[' => match serde_json::from_str::<Vec<&RawValue>>(groups.get()) {
            Ok(items) => records(&items),
            Err(e) => Content::Unrecognised(format!("data.groups could not be read: {e}")),
        },
        b'{' => map_or_single(groups),
        _ => Content::Unrecognised(format!(
            "data.groups is {}, expected an array or an object",
            kind(groups)
        )),
    }
}

/// An object whose keys are all digit strings is PHP's encoding of a (sparse) array: its values
/// are the records, in the order written (PHP writes them in array order; sorting the keys as
/// strings would put "10" before "2"). A value that is not an object is then a rejected record,
/// rather than a reason to misread the whole map as one group. Any other object is one group.
fn map_or_single(object: &RawValue) -> Content {
    let entries = match serde_json::from_str::<Entries>(object.get()) {
        Ok(entries) => entries.0,
        Err(e) => return Content::Unrecognised(format!("groups could not be read: {e}")),
    };
    if entries.is_empty() {
        return Content::Empty;
    }
    if entries.iter().all(|(key, _)| is_digits(key)) {
        let items: Vec<&RawValue> = entries.into_iter().map(|(_, value)| value).collect();
        records(&items)
    } else {
        records(&[object])
    }
}

/// Types every element and keeps one record per id: the latest `updated_at` (a missing one
/// counts as oldest), the later element on a tie, at the place where the id first appeared.
fn records(items: &[&RawValue]) -> Content {
    if items.is_empty() {
        return Content::Empty;
    }
    let mut groups = Groups {
        records: Vec::with_capacity(items.len()),
        received: items.len(),
        ..Groups::default()
    };
    let mut index: HashMap<i64, usize> = HashMap::with_capacity(items.len());
    for item in items {
        let record = match parse_record(item) {
            Ok(record) => record,
            Err(rejected) => {
                groups.rejected.push(rejected);
                continue;
            }
        };
        match index.entry(record.id) {
            Entry::Vacant(slot) => {
                slot.insert(groups.records.len());
                groups.records.push(record);
            }
            Entry::Occupied(slot) => {
                groups.duplicate_ids.push(record.id);
                if let Some(kept) = groups.records.get_mut(*slot.get()) {
                    if record.updated_at >= kept.updated_at {
                        *kept = record;
                    }
                }
            }
        }
    }
    Content::Groups(groups)
}

/// docs/upstream-api.md's pagination: a link wins over page numbers, and the first place holding
/// both page numbers decides, so a stale pair elsewhere cannot contradict it.
fn next_link(
    top: &Keys,
    data: Option<&Keys>,
    meta: Option<&Keys>,
    links: Option<&Keys>,
) -> NextLink {
    let urls = [
        top.next_page_url,
        data.and_then(|keys| keys.next_page_url),
        meta.and_then(|keys| keys.next_page_url),
        links.and_then(|keys| keys.next),
    ];
    for raw in urls.into_iter().flatten() {
        if let Some(url) = decode_str(raw).filter(|url| !url.trim().is_empty()) {
            return NextLink::Url(url.into_owned());
        }
    }
    match page_numbers(top, data, meta) {
        Some((current, last)) => match current.checked_add(1) {
            Some(next) if current < last => NextLink::Page(next),
            _ => NextLink::None,
        },
        None => NextLink::None,
    }
}

/// `(current_page, last_page)` from the first place holding both.
fn page_numbers(top: &Keys, data: Option<&Keys>, meta: Option<&Keys>) -> Option<(u64, u64)> {
    let page = |raw: Option<&RawValue>| raw.and_then(integer).and_then(|n| u64::try_from(n).ok());
    [Some(top), data, meta]
        .into_iter()
        .flatten()
        .find_map(|keys| Some((page(keys.current_page)?, page(keys.last_page)?)))
}

/// The keys of `meta` or `links` when it is an object; an array (Laravel's list of page links)
/// or anything else holds no hint we read.
fn object_keys(raw: Option<&RawValue>) -> Option<Keys<'_>> {
    let raw = raw.filter(|raw| first_byte(raw) == b'{')?;
    match serde_json::from_str::<Node>(raw.get()) {
        Ok(Node::Object(keys)) => Some(keys),
        _ => None,
    }
}

/// A string's text, or the JSON text of anything else (an `error` object stays readable).
fn text_or_json(raw: &RawValue) -> Option<String> {
    match first_byte(raw) {
        b'n' => None,
        b'"' => Some(decode_str(raw).map_or_else(|| raw.get().to_owned(), Cow::into_owned)),
        _ => Some(raw.get().to_owned()),
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod robustness;
