//! The API key, blanked out of whatever upstream sends back (the README).
//!
//! An upstream body may echo the key as sent, JSON-escaped (`\/`, or `\uXXXX` of any or all
//! characters, either hex case), URL-encoded (`%XX` in either case, `+` for a space), or cut
//! short. Listing every mix of those forms would never end, so the key is matched one
//! character at a time instead, each character read through JSON escaping and then URL
//! decoding: any mix of forms is caught by the same loop, and nothing is precomputed but the
//! key's characters.
//!
//! Two strengths, for two kinds of text:
//! - a whole response body is cleaned of every *full* echo of the key before it is parsed, so
//!   records, links, rejected records and messages are clean by construction, and data that
//!   merely shares a few characters with the key is stored untouched;
//! - a short text a user reads (an error message, a quoted body) also loses any fragment of
//!   [`WINDOW`] characters of the key, and a trailing start of the key: that is what a body
//!   cut mid-key leaves.

use std::borrow::Cow;

use crate::domain::ApiKey;

/// What an echoed key is replaced with: plain ASCII, so a JSON string around it stays valid.
pub(super) const REDACTED: &str = "[redacted]";
/// The shortest run of the key's characters a short text may not hold (the whole key when
/// the key is shorter).
const WINDOW: usize = 10;
/// A short text that ends in this many of the key's first characters or more was cut mid-key.
const TAIL: usize = 4;

/// Blanks the key out of upstream text; built once per client from the key.
pub(super) struct Redactor {
    key: Vec<char>,
    /// The key as sent, searched for as a whole (SIMD-fast).
    sent: memchr::memmem::Finder<'static>,
    /// For each byte, the key's starts (whole characters, as sent) that end in it: what may
    /// stand before an escape inside an echo. Each as its length in bytes, and the index of
    /// the key's character the escape must then stand for.
    starts_ending_in: Vec<Vec<(usize, usize)>>,
    /// The bytes that start an escape: `\`, `%`, and `+` when the key holds a space.
    escapes: [u8; 3],
}

/// Never prints the key, even in a developer's `{:?}`.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor { .. }")
    }
}

impl Redactor {
    pub(super) fn new(key: &ApiKey) -> Redactor {
        let sent = key.expose();
        Redactor {
            key: sent.chars().collect(),
            sent: memchr::memmem::Finder::new(sent.as_bytes()).into_owned(),
            starts_ending_in: starts_ending_in(sent),
            escapes: [b'\\', b'%', if sent.contains(' ') { b'+' } else { b'%' }],
        }
    }

    /// `body` with every full echo of the key replaced by [`REDACTED`]. Borrowed unchanged
    /// (no copy) when the key is not there, which is the common case.
    pub(super) fn clean_body<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        if self.key.is_empty() {
            return Cow::Borrowed(body);
        }
        let mut cleaned: Option<Vec<u8>> = None;
        let mut copied = 0;
        for at in self.body_candidates(body) {
            if at < copied {
                continue;
            }
            let (count, end) = self.run(body, at, 0);
            if count == self.key.len() {
                let out = cleaned.get_or_insert_with(|| Vec::with_capacity(body.len()));
                out.extend_from_slice(&body[copied..at]);
                out.extend_from_slice(REDACTED.as_bytes());
                copied = end;
            }
        }
        match cleaned {
            None => Cow::Borrowed(body),
            Some(mut out) => {
                out.extend_from_slice(&body[copied..]);
                Cow::Owned(out)
            }
        }
    }

    /// Where a full echo of the key may start, in order. An echo either is the key as sent,
    /// or has a first escape (`\`, `%` or a `+` for a space) with only the key's own first
    /// characters, as sent, before it. Both are found with SIMD searches, so a body pays for
    /// its escapes, not for every letter the key starts with.
    fn body_candidates(&self, body: &[u8]) -> Vec<usize> {
        let mut starts: Vec<usize> = self.sent.find_iter(body).collect();
        let sent = self.sent.needle();
        let [a, b, c] = self.escapes;
        for escape in memchr::memchr3_iter(a, b, c, body) {
            let here = meanings(body, escape);
            let stands_for =
                |index: usize| here.iter().flatten().any(|(c, _)| *c == self.key[index]);
            if stands_for(0) {
                starts.push(escape);
            }
            let Some(&last) = escape.checked_sub(1).and_then(|at| body.get(at)) else {
                continue;
            };
            for &(before, index) in &self.starts_ending_in[usize::from(last)] {
                let start = escape.saturating_sub(before);
                if body[start..escape] == sent[..before] && stands_for(index) {
                    starts.push(start);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        starts
    }

    /// `text` without the key, any [`WINDOW`]-character fragment of it in any form, or a
    /// trailing start of it: for the short texts a user reads.
    pub(super) fn clean_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let bytes = text.as_bytes();
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut resume = 0;
        for (at, _) in text.char_indices() {
            if at < resume {
                continue;
            }
            if let Some(end) = self.fragment_at(bytes, at) {
                spans.push((at, end));
                resume = end;
            }
        }
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (start, end) in spans {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }

    /// Where a fragment of the key that must go, starting at `at`, ends (the longest one).
    fn fragment_at(&self, text: &[u8], at: usize) -> Option<usize> {
        let here = meanings(text, at);
        let window = WINDOW.min(self.key.len());
        let mut longest: Option<usize> = None;
        for (from, want) in self.key.iter().enumerate() {
            if !here.iter().flatten().any(|(c, _)| c == want) {
                continue;
            }
            let (count, end) = self.run(text, at, from);
            let cut_mid_key = from == 0 && count >= TAIL.min(self.key.len()) && is_cut(text, end);
            let end = if cut_mid_key { text.len() } else { end };
            if (count >= window || cut_mid_key) && longest.is_none_or(|l| end > l) {
                longest = Some(end);
            }
        }
        longest
    }

    /// How many of the key's characters, from `from` on, `text` spells starting at `at`, and
    /// where they end: the longest reading.
    fn run(&self, text: &[u8], mut at: usize, mut from: usize) -> (usize, usize) {
        let start = from;
        while let Some(want) = self.key.get(from) {
            let mut readings = meanings(text, at)
                .into_iter()
                .flatten()
                .filter(|(c, _)| c == want);
            let Some((_, end)) = readings.next() else {
                break;
            };
            if let Some((_, other)) = readings.next() {
                // `%25` where the key has a `%`: a `%` either way; keep the longer reading.
                let (a, b) = (
                    self.run(text, end, from + 1),
                    self.run(text, other, from + 1),
                );
                let (count, stop) = if b.0 > a.0 { b } else { a };
                return (from + 1 - start + count, stop);
            }
            at = end;
            from += 1;
        }
        (from - start, at)
    }
}

/// See [`Redactor::starts_ending_in`].
fn starts_ending_in(key: &str) -> Vec<Vec<(usize, usize)>> {
    let mut table = vec![Vec::new(); 256];
    for (index, (at, _)) in key.char_indices().enumerate().skip(1) {
        table[usize::from(key.as_bytes()[at - 1])].push((at, index));
    }
    table
}

/// Whether only an escape cut in two (or nothing) follows `end`: the text broke off there.
fn is_cut(text: &[u8], end: usize) -> bool {
    let rest = &text[end.min(text.len())..];
    rest.is_empty() || (rest.len() < 6 && matches!(rest[0], b'\\' | b'%'))
}

/// The characters `text` may stand for at `at`, each with where it ends: the character read
/// through JSON escaping and, for `%` and `+`, what URL decoding makes of them.
fn meanings(text: &[u8], at: usize) -> [Option<(char, usize)>; 2] {
    let Some((c, end)) = json_char(text, at) else {
        return [None, None];
    };
    let decoded = match c {
        '%' => percent_char(text, end),
        '+' => Some((' ', end)),
        _ => None,
    };
    [Some((c, end)), decoded]
}

/// The character at `at` read as inside a JSON string, and where the next one starts.
fn json_char(text: &[u8], at: usize) -> Option<(char, usize)> {
    if *text.get(at)? != b'\\' {
        return utf8_char(text, at);
    }
    let escaped = match text.get(at + 1) {
        Some(b'u') => return unicode_escape(text, at).or(Some(('\\', at + 1))),
        Some(b'/') => '/',
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        _ => return Some(('\\', at + 1)),
    };
    Some((escaped, at + 2))
}

/// `\uXXXX` at `at`, or a surrogate pair of two of them.
fn unicode_escape(text: &[u8], at: usize) -> Option<(char, usize)> {
    let unit = hex(text.get(at + 2..at + 6)?)?;
    if (0xD800..0xDC00).contains(&unit) && text.get(at + 6..at + 8) == Some(b"\\u") {
        let low = text.get(at + 8..at + 12).and_then(hex);
        if let Some(low @ 0xDC00..0xE000) = low {
            let c = char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?;
            return Some((c, at + 12));
        }
    }
    Some((char::from_u32(unit).unwrap_or('\u{FFFD}'), at + 6))
}

/// The percent-encoded character whose first `%` ends at `at` (one to four `%XX`, each part
/// possibly JSON-escaped itself).
fn percent_char(text: &[u8], at: usize) -> Option<(char, usize)> {
    let (lead, mut end) = hex_pair(text, at)?;
    let len = match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return None,
    };
    let mut bytes = [lead, 0, 0, 0];
    for byte in bytes.iter_mut().take(len).skip(1) {
        let (percent, next) = json_char(text, end)?;
        if percent != '%' {
            return None;
        }
        (*byte, end) = hex_pair(text, next)?;
    }
    let c = std::str::from_utf8(&bytes[..len]).ok()?.chars().next()?;
    Some((c, end))
}

/// Two hex digits (either case, each possibly JSON-escaped) at `at`, as a byte.
fn hex_pair(text: &[u8], at: usize) -> Option<(u8, usize)> {
    let (high, mid) = json_char(text, at)?;
    let (low, end) = json_char(text, mid)?;
    let value = high.to_digit(16)? * 16 + low.to_digit(16)?;
    Some((u8::try_from(value).ok()?, end))
}

/// Four hex digits, either case; `None` for anything else (a sign included).
fn hex(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
}

/// The UTF-8 character at `at`; a byte that starts none stands for U+FFFD.
fn utf8_char(text: &[u8], at: usize) -> Option<(char, usize)> {
    let first = *text.get(at)?;
    if first.is_ascii() {
        return Some((char::from(first), at + 1));
    }
    let len = match first {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return Some(('\u{FFFD}', at + 1)),
    };
    let decoded = text
        .get(at..at + len)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|s| s.chars().next());
    Some(decoded.map_or(('\u{FFFD}', at + 1), |c| (c, at + len)))
}

#[cfg(test)]
mod tests;
