//! The steps that change the upstream between runs, and how a step's selectors pick ids.

use std::collections::BTreeSet;

use super::history::{Paging, Stamp, Target};
use super::runner::{now, Harness};
use crate::fake_api::Pagination;

fn stamp(s: Stamp) -> String {
    match s {
        Stamp::Now => now(),
        Stamp::Future => "2099-01-01 00:00:00".into(),
        Stamp::HourAgo => (chrono::Utc::now() - chrono::Duration::hours(1))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
    }
}

impl Harness {
    pub(super) fn pick(&self, sel: u16) -> Option<i64> {
        let ids: Vec<i64> = self.app.api.snapshot().into_keys().collect();
        (!ids.is_empty()).then(|| ids[usize::from(sel) % ids.len()])
    }

    pub(super) fn picks(&self, sel: &[u16]) -> Vec<i64> {
        let ids: BTreeSet<i64> = sel.iter().filter_map(|s| self.pick(*s)).collect();
        ids.into_iter().collect()
    }

    pub(super) fn fresh_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id - 1
    }

    pub(super) fn insert(&mut self, n: u8) {
        let at = now();
        let ids: Vec<i64> = (0..n).map(|_| self.fresh_id()).collect();
        for id in &ids {
            self.app.api.put_group(*id, 1, &format!("Added {id}"), &at);
        }
        self.trace.push(format!("insert {ids:?} at {at}"));
    }

    /// A rejected record is repaired by a valid one; others get a new version.
    pub(super) fn update(&mut self, sel: &[u16], at: Stamp) {
        let (ids, at) = (self.picks(sel), stamp(at));
        for id in &ids {
            // A new version is a change the next run must store, owed or not.
            self.owed.remove(id);
            if self.raw.remove(id) {
                self.rejected.remove(id);
                self.app
                    .api
                    .put_group(*id, 1, &format!("Repaired {id}"), &at);
            } else {
                self.app.api.update_groups(&[*id], &at);
            }
        }
        self.trace.push(format!("update {ids:?} at {at}"));
    }

    pub(super) fn delete(&mut self, sel: &[u16]) {
        let ids = self.picks(sel);
        self.app.api.remove_groups(&ids);
        for id in &ids {
            self.forget_raw(*id);
        }
        self.removed.extend(&ids);
        self.trace.push(format!("delete {ids:?}"));
    }

    pub(super) fn forget_raw(&mut self, id: i64) {
        self.raw.remove(&id);
        self.rejected.remove(&id);
    }

    fn target(&mut self, target: Target) -> i64 {
        let id = match target {
            Target::Stored(sel) => self.pick(sel),
            Target::New => None,
        };
        id.unwrap_or_else(|| self.fresh_id())
    }

    pub(super) fn reject(&mut self, target: Target) {
        let id = self.target(target);
        self.app
            .api
            .put_raw(&format!(r#"{{"id":{id},"group_name":{{"x":1}}}}"#));
        self.raw.insert(id);
        self.rejected.insert(id);
        self.trace.push(format!("group {id} comes back malformed"));
    }

    /// Accepted (README, "How a sync works": NULL `updated_at`, `bad_timestamp`), and served whatever the filter.
    pub(super) fn odd_timestamp(&mut self, target: Target) {
        let id = self.target(target);
        let raw = format!(r#"{{"id":{id},"group_name":"Odd {id}","updated_at":"soon"}}"#);
        self.app.api.put_raw(&raw);
        self.raw.insert(id);
        self.rejected.remove(&id);
        self.trace
            .push(format!("group {id} has updated_at \"soon\""));
    }

    /// Most groups leave at once (the lowest ids first) and `new` ones arrive: the guard's
    /// case.
    pub(super) fn turnover(&mut self, percent: u8, new: u8) {
        let ids: Vec<i64> = self.app.api.snapshot().into_keys().collect();
        let gone = (ids.len() * usize::from(percent)).div_ceil(100);
        let gone = &ids[..gone.min(ids.len())];
        self.app.api.remove_groups(gone);
        for id in gone {
            self.forget_raw(*id);
        }
        self.removed.extend(gone);
        self.trace.push(format!("delete {gone:?}"));
        self.insert(new);
    }

    /// A group deleted upstream earlier comes back, changed now.
    pub(super) fn revive(&mut self, sel: u16) {
        if self.removed.is_empty() {
            return self.trace.push("revive: nothing was deleted".into());
        }
        let id = self.removed.remove(usize::from(sel) % self.removed.len());
        let at = now();
        self.app.api.put_group(id, 1, &format!("Revived {id}"), &at);
        self.trace.push(format!("group {id} comes back at {at}"));
    }

    pub(super) fn set_paging(&mut self, p: Paging) {
        self.paging = p;
        let (pagination, per_page) = match p {
            Paging::Whole => (Pagination::None, 0),
            Paging::Next(location, n) => (
                Pagination::NextUrl {
                    location,
                    absolute: n % 2 == 0,
                },
                n.into(),
            ),
            Paging::Numbered(location, n) => (Pagination::Numbered { location }, n.into()),
        };
        self.app.api.set_pagination(pagination, per_page);
        self.trace.push(format!("pagination {p:?}"));
    }
}
