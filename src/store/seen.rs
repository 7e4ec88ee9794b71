//! The set of ids a full run received, kept small enough that memory does not grow with the
//! size of the account.

/// The ids a full run received, for its deletion reconciliation, in about one byte per id
/// when the ids are mostly consecutive (as database ids are) instead of eight: memory must
/// not grow with the size of the account.
///
/// Ids collect in a small unsorted buffer; when it fills, it is sorted and merged into the
/// store: runs of consecutive ids, each written as two LEB128 varints (the gap since the end
/// of the previous run, and the run's length).
#[derive(Debug, Default)]
pub struct SeenIds {
    runs: Vec<u8>,
    pending: Vec<i64>,
    /// Distinct ids in `runs`.
    stored: u64,
}

/// Ids buffered before a merge: 512 KiB.
const SEEN_BUFFER: usize = 1 << 16;

impl SeenIds {
    pub fn new() -> SeenIds {
        SeenIds::default()
    }

    pub fn insert(&mut self, id: i64) {
        if self.pending.capacity() == 0 {
            self.pending.reserve_exact(SEEN_BUFFER);
        }
        self.pending.push(id);
        if self.pending.len() >= SEEN_BUFFER {
            self.merge();
        }
    }

    /// Distinct ids inserted (an upper bound while some are still buffered).
    pub fn len(&self) -> u64 {
        self.stored + self.pending.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every id inserted, ascending, each once.
    pub fn sorted(&mut self) -> impl Iterator<Item = i64> + '_ {
        self.merge();
        RunIds {
            runs: Runs {
                bytes: &self.runs,
                end: None,
            },
            next: 0,
            left: 0,
        }
    }

    fn merge(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.pending.sort_unstable();
        let old = std::mem::take(&mut self.runs);
        let mut writer = RunWriter::default();
        let mut runs = Runs {
            bytes: &old,
            end: None,
        };
        let mut pending = self.pending.iter().copied().peekable();
        for (start, len) in runs.by_ref() {
            while let Some(id) = pending.next_if(|id| *id < start) {
                writer.push(id);
            }
            writer.push_run(start, len);
        }
        for id in pending {
            writer.push(id);
        }
        self.stored = writer.count;
        self.runs = writer.finish();
        self.pending.clear();
    }
}

/// Decodes `(start, length)` runs.
struct Runs<'a> {
    bytes: &'a [u8],
    /// End (exclusive) of the previous run.
    end: Option<i128>,
}

impl Iterator for Runs<'_> {
    type Item = (i64, u64);

    fn next(&mut self) -> Option<(i64, u64)> {
        if self.bytes.is_empty() {
            return None;
        }
        let gap = read_varint(&mut self.bytes);
        let len = read_varint(&mut self.bytes);
        let start = match self.end {
            None => gap as i64,
            Some(end) => (end + i128::from(gap)) as i64,
        };
        self.end = Some(i128::from(start) + i128::from(len));
        Some((start, len))
    }
}

struct RunIds<'a> {
    runs: Runs<'a>,
    next: i64,
    left: u64,
}

impl Iterator for RunIds<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        while self.left == 0 {
            let (start, len) = self.runs.next()?;
            (self.next, self.left) = (start, len);
        }
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        self.left -= 1;
        Some(id)
    }
}

/// Encodes ascending ids (repeats ignored) as runs.
#[derive(Default)]
struct RunWriter {
    bytes: Vec<u8>,
    /// The open run: its start and end (exclusive).
    open: Option<(i64, i128)>,
    /// End (exclusive) of the last run written.
    end: Option<i128>,
    count: u64,
}

impl RunWriter {
    fn push(&mut self, id: i64) {
        self.push_run(id, 1);
    }

    /// Adds `len` consecutive ids from `start`, which is not below the open run's start.
    fn push_run(&mut self, start: i64, len: u64) {
        let run_end = i128::from(start) + i128::from(len);
        if let Some((_, open_end)) = &mut self.open {
            if i128::from(start) <= *open_end {
                if run_end > *open_end {
                    self.count += (run_end - *open_end) as u64;
                    *open_end = run_end;
                }
                return;
            }
            self.close();
        }
        self.open = Some((start, run_end));
        self.count += len;
    }

    fn close(&mut self) {
        if let Some((start, end)) = self.open.take() {
            let gap = match self.end {
                None => start as u64,
                Some(previous) => (i128::from(start) - previous) as u64,
            };
            write_varint(&mut self.bytes, gap);
            write_varint(&mut self.bytes, (end - i128::from(start)) as u64);
            self.end = Some(end);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.close();
        self.bytes.shrink_to_fit();
        self.bytes
    }
}

fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(bytes: &mut &[u8]) -> u64 {
    let mut n = 0u64;
    let mut shift = 0;
    while let Some((&b, rest)) = bytes.split_first() {
        *bytes = rest;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(seen: &mut SeenIds) -> Vec<i64> {
        seen.sorted().collect()
    }

    #[test]
    fn seen_ids_come_back_sorted_and_distinct() {
        let mut seen = SeenIds::new();
        for id in [5, 3, 4, 9, 3, 1, i64::MAX, 10, 2, 5, i64::MAX] {
            seen.insert(id);
        }
        assert_eq!(collect(&mut seen), [1, 2, 3, 4, 5, 9, 10, i64::MAX]);
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn seen_ids_survive_merges_in_any_order() {
        let mut seen = SeenIds::new();
        let mut expected = Vec::new();
        // Dense ids, a reversed stretch, sparse ids and repeats, over several merges.
        let ids = (1..=150_000i64)
            .chain((200_000..260_000).rev())
            .chain((0..70_000).map(|k| 1_000_000 + k * 7919))
            .chain(1..=1_000);
        for id in ids {
            seen.insert(id);
            expected.push(id);
        }
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(collect(&mut seen), expected);
        assert_eq!(seen.len(), expected.len() as u64);
        // Dense ids cost a few bytes in all; the sparse ones about three bytes each.
        assert!(seen.runs.len() < 4 * 70_000, "{} bytes", seen.runs.len());
    }

    #[test]
    fn seen_ids_can_be_empty() {
        let mut seen = SeenIds::new();
        assert!(seen.is_empty());
        assert_eq!(collect(&mut seen), Vec::<i64>::new());
    }
}
