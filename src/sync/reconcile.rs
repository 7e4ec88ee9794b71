//! The deletion rules of a full run (the README's "How a sync works"), decided from the evidence the run
//! gathered and nothing else: no I/O here, so every rule is tested on plain sets.
//!
//! A group is a *candidate* when it is live in the database but absent from the run's first
//! complete listing. Absence alone proves little: with offset pagination, a group deleted
//! upstream while the run pages through shifts every later row one place back, and the row at
//! the next page boundary is never sent. So candidates are confirmed by listing the scope
//! again. A confirming listing settles the question only if it is *quiet*: every id the
//! previous listing held is listed again. A row skipped by a shift needs a deletion during
//! that listing of a row already sent, and that row is then missing from the next listing; so
//! a candidate that is absent from a quiet listing and from the one before was not skipped
//! twice by shifting rows: it is gone. Listings that keep changing settle nothing, and
//! nothing is marked.

use roaring::RoaringTreemap;

/// Listings after the first that a run may make to confirm candidates.
pub(super) const MAX_CONFIRMING_LISTINGS: u32 = 2;

/// The evidence of a full run, listing by listing.
#[derive(Debug)]
pub(super) struct Reconciliation {
    /// Live before the run: the guard's base (rows this run inserted do not count).
    live_before: u64,
    candidates: RoaringTreemap,
    /// Every id of the latest listing (records and rejected records that named an id).
    latest: RoaringTreemap,
    /// Candidates that a later listing contained after all.
    saved: RoaringTreemap,
    confirming_listings: u32,
    settled: bool,
}

/// What the run does about its candidates.
#[derive(Debug, PartialEq)]
pub(super) enum Decision {
    /// Mark these deleted (possibly none): the scope was verified in full.
    Mark(RoaringTreemap),
    /// More than the guard allows would go: nothing is marked.
    Guarded {
        confirmed: u64,
        live_before: u64,
        fraction: f64,
    },
    /// The listings kept changing: nothing is marked, the next full run tries again.
    Unsettled { candidates: u64 },
}

impl Reconciliation {
    /// `candidates`: live rows the first listing (`seen`) did not contain.
    pub(super) fn new(live_before: u64, seen: RoaringTreemap, candidates: RoaringTreemap) -> Self {
        let settled = candidates.is_empty();
        Reconciliation {
            live_before,
            candidates,
            latest: seen,
            saved: RoaringTreemap::new(),
            confirming_listings: 0,
            settled,
        }
    }

    /// Whether another listing of the scope is needed, and allowed, to settle the candidates.
    pub(super) fn wants_listing(&self) -> bool {
        !self.settled && self.confirming_listings < MAX_CONFIRMING_LISTINGS
    }

    /// Takes the ids of one more complete listing.
    pub(super) fn add_listing(&mut self, seen: RoaringTreemap) {
        self.confirming_listings += 1;
        let back = &self.candidates & &seen;
        self.candidates -= &back;
        self.saved |= back;
        self.settled = self.candidates.is_empty() || self.latest.is_subset(&seen);
        self.latest = seen;
    }

    /// Candidates that a confirming listing found after all: the `deletion_unconfirmed` event.
    pub(super) fn saved(&self) -> &RoaringTreemap {
        &self.saved
    }

    /// The rule's verdict. `guard`: `delete_guard_fraction`, or `None` with
    /// `--allow-mass-delete`.
    pub(super) fn decide(self, guard: Option<f64>) -> Decision {
        if !self.settled {
            return Decision::Unsettled {
                candidates: self.candidates.len(),
            };
        }
        let confirmed = self.candidates.len();
        if let Some(fraction) = guard {
            if confirmed > 0 && confirmed as f64 > fraction * self.live_before as f64 {
                return Decision::Guarded {
                    confirmed,
                    live_before: self.live_before,
                    fraction,
                };
            }
        }
        Decision::Mark(self.candidates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: impl IntoIterator<Item = u64>) -> RoaringTreemap {
        ids.into_iter().collect()
    }

    #[test]
    fn no_candidates_means_verified_with_nothing_to_mark() {
        let r = Reconciliation::new(10, set(1..=10), set([]));
        assert!(!r.wants_listing());
        assert_eq!(r.decide(Some(0.5)), Decision::Mark(set([])));
    }

    #[test]
    fn candidates_are_never_marked_without_a_confirming_listing() {
        let r = Reconciliation::new(10, set(1..=9), set([10]));
        assert!(r.wants_listing());
        assert_eq!(r.decide(None), Decision::Unsettled { candidates: 1 });
    }

    #[test]
    fn a_candidate_absent_from_a_quiet_confirming_listing_is_marked() {
        let mut r = Reconciliation::new(10, set(1..=9), set([10]));
        r.add_listing(set(1..=9));
        assert!(!r.wants_listing());
        assert_eq!(r.decide(Some(0.5)), Decision::Mark(set([10])));
    }

    #[test]
    fn a_candidate_listed_again_is_saved_not_marked() {
        // Group 6 was skipped by a shift in the first listing; 3 really went.
        let mut r = Reconciliation::new(10, set([1, 2, 3, 4, 5, 7, 8, 9, 10]), set([6]));
        r.add_listing(set([1, 2, 4, 5, 6, 7, 8, 9, 10]));
        assert_eq!(r.saved(), &set([6]));
        // 3 vanished during the run: that listing was not quiet, but no candidate is left.
        assert_eq!(r.decide(Some(0.5)), Decision::Mark(set([])));
    }

    #[test]
    fn a_listing_that_lost_ids_seen_before_does_not_confirm() {
        let mut r = Reconciliation::new(10, set([1, 2, 3, 4, 5, 7, 8, 9, 10]), set([6]));
        // 2 was deleted while the confirming listing paged through: 6 may have been skipped
        // again by the shift.
        r.add_listing(set([1, 3, 4, 5, 7, 8, 9, 10]));
        assert!(r.wants_listing());
        r.add_listing(set([1, 3, 4, 5, 7, 8, 9, 10]));
        assert_eq!(r.decide(Some(0.5)), Decision::Mark(set([6])));
    }

    #[test]
    fn listings_that_keep_changing_mark_nothing() {
        let mut r = Reconciliation::new(10, set(2..=10), set([1]));
        r.add_listing(set(3..=10));
        r.add_listing(set(4..=10));
        assert!(!r.wants_listing());
        assert_eq!(r.decide(None), Decision::Unsettled { candidates: 1 });
    }

    #[test]
    fn new_ids_in_a_confirming_listing_do_not_unsettle_it() {
        let mut r = Reconciliation::new(3, set([1, 2]), set([3]));
        r.add_listing(set([1, 2, 50, 51]));
        assert_eq!(r.decide(Some(0.5)), Decision::Mark(set([3])));
    }

    #[test]
    fn the_guard_counts_only_rows_live_before_the_run() {
        // 40 stored groups vanished, 50 new ones appeared: 40 of 40 would go.
        let mut r = Reconciliation::new(40, set(41..=90), set(1..=40));
        r.add_listing(set(41..=90));
        let decision = r.decide(Some(0.5));
        assert_eq!(
            decision,
            Decision::Guarded {
                confirmed: 40,
                live_before: 40,
                fraction: 0.5
            }
        );
    }

    #[test]
    fn allow_mass_delete_lifts_the_guard() {
        let mut r = Reconciliation::new(40, set(41..=90), set(1..=40));
        r.add_listing(set(41..=90));
        assert_eq!(r.decide(None), Decision::Mark(set(1..=40)));
    }

    #[test]
    fn deletions_up_to_the_fraction_pass_the_guard() {
        let mut r = Reconciliation::new(10, set(6..=10), set(1..=5));
        r.add_listing(set(6..=10));
        assert_eq!(r.decide(Some(0.5)), Decision::Mark(set(1..=5)));
    }
}
