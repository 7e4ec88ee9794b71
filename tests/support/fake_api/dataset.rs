//! The fake's records, stored compactly so a million of them stay cheap.
//!
//! Generated groups keep only what can change (business code, version, `updated_at`); their
//! names, descriptions and `created_at` are derived from the id and the seed at render time,
//! so regenerating the same dataset yields byte-identical responses.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::timestamps::{parse_ts, push_ts};

/// 2024-01-01 00:00:00 UTC: generated timestamps fall in the months after it, all in the past.
const BASE_EPOCH: i64 = 1_704_067_200;
const DAY: i64 = 86_400;

const NAMED: u8 = 1;
const RAW: u8 = 2;
const NO_BC: u8 = 4;
const NO_TS: u8 = 8;

/// One record: 32 bytes, whatever its kind.
#[derive(Clone, Copy, Debug)]
pub(super) struct Group {
    pub(super) id: i64,
    business_code: i64,
    updated: i64,
    version: u32,
    flags: u8,
}

/// What the API's query parameters ask for; `None` means "not filtered on this".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Filter {
    pub(super) business_code: Option<i64>,
    pub(super) since: Option<i64>,
    /// `updated_at` read as an end date (the documentation's wording): on or before.
    pub(super) until: Option<i64>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.business_code.is_none() && self.since.is_none() && self.until.is_none()
    }

    /// A raw record lacking the filtered field is let through: tests of malformed records
    /// want them to reach the daemon whatever the scope or the watermark.
    fn matches(&self, g: &Group) -> bool {
        let lenient = g.flags & RAW != 0;
        let bc_ok = match self.business_code {
            None => true,
            Some(_) if g.flags & NO_BC != 0 => lenient,
            Some(code) => g.business_code == code,
        };
        let ts_ok = match self.since {
            None => true,
            Some(_) if g.flags & NO_TS != 0 => lenient,
            Some(since) => g.updated >= since,
        };
        let until_ok = match self.until {
            None => true,
            Some(_) if g.flags & NO_TS != 0 => lenient,
            // The end date is a day: everything stamped during it still matches.
            Some(until) => g.updated < until + DAY,
        };
        bc_ok && ts_ok && until_ok
    }
}

/// One slot of a rendered page.
#[derive(Clone, Copy, Debug)]
pub(super) enum Entry {
    /// Position in the sorted group list.
    Pos(u32),
    /// A raw record without a usable id, emitted after the last page's groups.
    Tail(u32),
}

/// What one page holds, plus the numbers the envelope reports.
#[derive(Debug)]
pub(super) struct PageInfo {
    pub(super) entries: Vec<Entry>,
    /// Index (over all matching records) of the page's first record: the PHP-style map key.
    pub(super) first_index: usize,
    pub(super) page: usize,
    pub(super) last_page: usize,
    pub(super) total: usize,
}

#[derive(Default)]
pub(super) struct Dataset {
    /// Sorted by id, ids unique.
    groups: Vec<Group>,
    /// Names given by `put_group`, already JSON-escaped.
    names: HashMap<i64, Box<str>>,
    raws: HashMap<i64, Box<str>>,
    tail: Vec<Box<str>>,
    seed: u64,
    /// Bumped on every change, so a cached filter result is never stale.
    generation: u64,
    cache: Option<(Filter, u64, Vec<u32>)>,
}

impl Dataset {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.groups.len() + self.tail.len()
    }

    /// Records with an id (generated, put or raw), without the tail.
    pub(super) fn group_len(&self) -> usize {
        self.groups.len()
    }

    pub(super) fn generate(&mut self, n: usize, codes: &[i64]) {
        self.groups.clear();
        self.groups.reserve_exact(n);
        self.names.clear();
        self.raws.clear();
        self.tail.clear();
        for id in 1..=n as i64 {
            let (business_code, flags) = match codes {
                [] => (0, NO_BC),
                _ => (codes[(id as usize - 1) % codes.len()], 0),
            };
            let updated = generated_updated(id, self.seed);
            self.groups.push(Group {
                id,
                business_code,
                updated,
                version: 0,
                flags,
            });
        }
        self.touch();
    }

    pub(super) fn put_group(&mut self, id: i64, business_code: i64, name: &str, updated: i64) {
        let escaped = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".to_owned());
        self.names.insert(id, escaped.into());
        self.raws.remove(&id);
        self.upsert(Group {
            id,
            business_code,
            updated,
            version: 0,
            flags: NAMED,
        });
    }

    /// Raw records with a positive integer id sort in like groups; any other text goes to
    /// the tail, emitted at the end of the last page.
    pub(super) fn put_raw(&mut self, raw: &str) {
        let parsed: Option<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(raw).ok();
        let id = parsed
            .as_ref()
            .and_then(|m| m.get("id"))
            .and_then(|v| v.as_i64());
        let (Some(map), Some(id)) = (parsed.as_ref(), id.filter(|id| *id > 0)) else {
            self.tail.push(raw.into());
            self.touch();
            return;
        };
        let mut flags = RAW;
        let business_code = map.get("business_code").and_then(|v| v.as_i64());
        if business_code.is_none() {
            flags |= NO_BC;
        }
        let updated = map
            .get("updated_at")
            .and_then(|v| v.as_str())
            .and_then(parse_ts);
        if updated.is_none() {
            flags |= NO_TS;
        }
        self.names.remove(&id);
        self.raws.insert(id, raw.into());
        let (business_code, updated) = (business_code.unwrap_or(0), updated.unwrap_or(0));
        self.upsert(Group {
            id,
            business_code,
            updated,
            version: 0,
            flags,
        });
    }

    fn upsert(&mut self, g: Group) {
        match self.groups.binary_search_by_key(&g.id, |x| x.id) {
            Ok(i) => self.groups[i] = g,
            Err(i) => self.groups.insert(i, g),
        }
        self.touch();
    }

    /// Raw records are left alone: their text is what the test wrote.
    pub(super) fn update(&mut self, ids: &[i64], updated: i64) {
        for id in ids {
            if let Ok(i) = self.groups.binary_search_by_key(id, |x| x.id) {
                let g = &mut self.groups[i];
                if g.flags & RAW == 0 {
                    g.version += 1;
                    g.updated = updated;
                }
            }
        }
        self.touch();
    }

    /// `count` ids spread evenly over the id range, so updates hit every page alike.
    pub(super) fn spread_ids(&self, count: usize) -> Vec<i64> {
        let len = self.groups.len();
        let count = count.min(len);
        (0..count)
            .map(|k| self.groups[k * len / count].id)
            .collect()
    }

    pub(super) fn highest_ids(&self, count: usize) -> Vec<i64> {
        let start = self.groups.len().saturating_sub(count);
        self.groups[start..].iter().map(|g| g.id).collect()
    }

    pub(super) fn remove(&mut self, ids: &[i64]) {
        let set: HashSet<i64> = ids.iter().copied().collect();
        self.groups.retain(|g| !set.contains(&g.id));
        for id in ids {
            self.names.remove(id);
            self.raws.remove(id);
        }
        self.touch();
    }

    /// A scheduled change; a timestamp that does not parse leaves the data as it is.
    pub(super) fn apply(&mut self, m: super::Mutation) {
        match m {
            super::Mutation::Remove(ids) => self.remove(&ids),
            super::Mutation::Update(ids, at) => {
                if let Some(at) = parse_ts(&at) {
                    self.update(&ids, at);
                }
            }
            super::Mutation::Put {
                id,
                business_code,
                name,
                updated_at,
            } => {
                if let Some(at) = parse_ts(&updated_at) {
                    self.put_group(id, business_code, &name, at);
                }
            }
        }
    }

    fn touch(&mut self) {
        self.generation += 1;
    }

    /// Unfiltered pages are a slice of the sorted list; filtered ones reuse the matching
    /// positions computed for the previous request with the same filter, so walking a
    /// million filtered records page by page does not rescan them for every page.
    pub(super) fn page(&mut self, filter: Filter, page: usize, per_page: usize) -> PageInfo {
        let matching = if filter.is_empty() {
            self.groups.len()
        } else {
            self.matching(filter).len()
        };
        let last_page = match per_page {
            0 => 1,
            n => matching.div_ceil(n).max(1),
        };
        let start = if per_page == 0 {
            0
        } else {
            (page - 1).saturating_mul(per_page)
        };
        let end = if per_page == 0 {
            matching
        } else {
            start.saturating_add(per_page)
        };
        let range = start.min(matching)..end.min(matching);
        let mut entries: Vec<Entry> = if filter.is_empty() {
            range.map(|p| Entry::Pos(p as u32)).collect()
        } else {
            self.matching(filter)[range]
                .iter()
                .map(|p| Entry::Pos(*p))
                .collect()
        };
        if page == last_page {
            entries.extend((0..self.tail.len()).map(|t| Entry::Tail(t as u32)));
        }
        let total = matching + self.tail.len();
        PageInfo {
            entries,
            first_index: start,
            page,
            last_page,
            total,
        }
    }

    fn matching(&mut self, filter: Filter) -> &[u32] {
        let fresh = matches!(&self.cache, Some((f, g, _)) if *f == filter && *g == self.generation);
        if !fresh {
            let positions = (0..self.groups.len() as u32)
                .filter(|p| filter.matches(&self.groups[*p as usize]))
                .collect();
            self.cache = Some((filter, self.generation, positions));
        }
        self.cache.as_ref().map_or(&[], |(_, _, p)| p.as_slice())
    }

    /// Every record with an id, rendered exactly as a page would serve it: what a test
    /// compares a database's `raw_json` with. Tail records (no usable id) are left out.
    pub(super) fn rendered(&self) -> std::collections::BTreeMap<i64, String> {
        (0..self.groups.len())
            .map(|p| {
                let mut out = String::new();
                self.write_entry(&mut out, Entry::Pos(p as u32));
                (self.groups[p].id, out)
            })
            .collect()
    }

    /// Writes one record as JSON; generated text is derived here, never stored.
    pub(super) fn write_entry(&self, out: &mut String, entry: Entry) {
        let g = match entry {
            Entry::Tail(t) => return out.push_str(&self.tail[t as usize]),
            Entry::Pos(p) => &self.groups[p as usize],
        };
        if g.flags & RAW != 0 {
            return out.push_str(self.raws.get(&g.id).map_or("null", |r| r));
        }
        let id = g.id;
        let _ = write!(out, "{{\"id\":{id},");
        if g.flags & NO_BC == 0 {
            let _ = write!(out, "\"business_code\":{},", g.business_code);
        }
        match self.names.get(&id) {
            Some(name) if g.flags & NAMED != 0 => {
                let _ = write!(out, "\"group_name\":{name},");
            }
            _ => {
                let _ = write!(out, "\"group_name\":\"Group {id} v{}\",", g.version);
            }
        }
        write_description(out, id, g.version);
        out.push_str(",\"created_at\":\"");
        push_ts(out, generated_created(id, self.seed));
        out.push_str("\",\"updated_at\":\"");
        push_ts(out, g.updated);
        let tier = ["bronze", "silver", "gold"][id.rem_euclid(3) as usize];
        let _ = write!(out, "\",\"tier\":\"{tier}\"}}");
    }
}

/// Some descriptions are null and some need escaping, as real data would.
fn write_description(out: &mut String, id: i64, version: u32) {
    if id % 11 == 0 {
        out.push_str("\"group_description\":null");
    } else if id % 10 == 3 {
        let _ = write!(
            out,
            "\"group_description\":\"\\\"VIP\\\" café & <co> — group {id}, revision {version}\""
        );
    } else {
        let _ = write!(
            out,
            "\"group_description\":\"Customers of group {id}, revision {version}\""
        );
    }
}

/// SplitMix64: a cheap, well-spread hash so timestamps look random but are reproducible.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn generated_created(id: i64, seed: u64) -> i64 {
    BASE_EPOCH + (mix(id as u64 ^ seed.rotate_left(17)) % (200 * DAY as u64)) as i64
}

/// Every seventh group was updated before it was created, like the documented sample.
fn generated_updated(id: i64, seed: u64) -> i64 {
    let created = generated_created(id, seed);
    let h = mix((id as u64).wrapping_mul(31) ^ seed);
    if id % 7 == 0 {
        created - (h % (6 * 3600)) as i64
    } else {
        created + (h % (30 * DAY as u64)) as i64
    }
}
