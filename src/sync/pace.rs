//! Whether a first load waits on the network rather than on the database. A first load drops
//! the secondary indexes so that SQLite writes its pages faster, and builds them at the end.
//! When every page waits on the network anyway, the faster writes save nothing and the build
//! at the end is pure delay (~0.2 s for 100 pages of 1 000). Once the last few pages show the
//! network to be the slower side, the run builds the indexes at once, over the few rows
//! written so far and while the next request is in flight, and keeps them up to date. Only
//! pages asked for one at a time (links) are looked at: pages fetched several at once (page
//! numbers) arrive faster than any one wait suggests, and there the indexes stay dropped.

use std::collections::VecDeque;
use std::time::Duration;

/// Pages looked at: one slow answer alone (a retry, a pause) decides nothing.
const WINDOW: usize = 3;
/// Below this a wait is not a network worth adapting to, whatever the writes cost.
const MIN_WAIT: Duration = Duration::from_millis(20);

/// The recent waits for a page and the recent page writes of one listing.
#[derive(Debug, Default)]
pub(super) struct Pace {
    waits: VecDeque<Duration>,
    writes: VecDeque<Duration>,
}

impl Pace {
    /// One page: how long the listing waited for it, and how long writing it took.
    pub(super) fn note(&mut self, wait: Duration, write: Duration) {
        for (list, value) in [(&mut self.waits, wait), (&mut self.writes, write)] {
            if list.len() == WINDOW {
                list.pop_front();
            }
            list.push_back(value);
        }
    }

    /// Whether the network, not the database, sets the pace: over the last pages the typical
    /// wait was at least [`MIN_WAIT`] and at least twice the typical write.
    pub(super) fn network_bound(&self) -> bool {
        if self.waits.len() < WINDOW {
            return false;
        }
        let wait = median(&self.waits);
        wait >= MIN_WAIT && wait >= 2 * median(&self.writes)
    }
}

fn median(values: &VecDeque<Duration>) -> Duration {
    let mut sorted: Vec<Duration> = values.iter().copied().collect();
    sorted.sort();
    sorted[sorted.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_fast_network_never_sets_the_pace() {
        let mut pace = Pace::default();
        for _ in 0..100 {
            pace.note(2 * MS, 8 * MS);
            assert!(!pace.network_bound());
        }
    }

    #[test]
    fn a_slow_network_sets_the_pace_after_a_few_pages() {
        let mut pace = Pace::default();
        pace.note(45 * MS, 6 * MS);
        pace.note(44 * MS, 7 * MS);
        assert!(!pace.network_bound(), "two pages decide nothing");
        pace.note(46 * MS, 6 * MS);
        assert!(pace.network_bound());
    }

    #[test]
    fn one_slow_answer_among_fast_ones_decides_nothing() {
        let mut pace = Pace::default();
        pace.note(MS, 8 * MS);
        pace.note(3_000 * MS, 8 * MS);
        pace.note(MS, 8 * MS);
        assert!(!pace.network_bound());
    }

    #[test]
    fn a_wait_shorter_than_twice_the_write_leaves_the_database_the_slower_side() {
        let mut pace = Pace::default();
        for _ in 0..WINDOW {
            pace.note(30 * MS, 20 * MS);
        }
        assert!(!pace.network_bound());
    }
}
