//! The journal's share of per-record warnings (`rejected_record`, `duplicate_id`,
//! `bad_timestamp`): the first few of each kind per run, then one line with how many more.
//! `sync_log` still gets every one; a million bad records must not push the run's own
//! result lines past journald's rate limit.

use std::collections::BTreeMap;

use tracing::warn;

use crate::store::LogEvent;

/// Warnings of one kind shown in the journal per run before they are only counted.
pub(crate) const SHOWN_PER_KIND: u64 = 5;

#[derive(Debug, Default)]
pub(super) struct RecordWarnings {
    /// Per event: how many the run has met so far.
    seen: BTreeMap<&'static str, u64>,
}

impl RecordWarnings {
    /// Shows `event` in the journal unless its kind has had its share this run.
    pub(super) fn note(&mut self, event: &LogEvent) {
        let seen = self.seen.entry(event.event).or_default();
        *seen += 1;
        if *seen <= SHOWN_PER_KIND {
            warn!(event = event.event, "{}", event.message);
        }
        if *seen == SHOWN_PER_KIND + 1 {
            warn!(
                event = event.event,
                "more than {SHOWN_PER_KIND} {} warnings in this run: the rest are counted, \
                 not shown, and summed up when the run ends (every one is in sync_log)",
                event.event
            );
        }
    }

    /// One line per kind that went past its share: how many were not shown.
    pub(super) fn summarise(&self) {
        for (event, seen) in &self.seen {
            if *seen > SHOWN_PER_KIND {
                let hidden = seen - SHOWN_PER_KIND;
                warn!(
                    event = *event,
                    "{seen} {event} warnings in this run, {hidden} not shown here; every one \
                     is in sync_log (SELECT * FROM sync_log WHERE event = '{event}')"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Level;

    #[test]
    fn counts_go_on_past_the_share() {
        let mut warnings = RecordWarnings::default();
        let event = LogEvent::new(Level::Warn, "rejected_record", "id is missing");
        for _ in 0..5000 {
            warnings.note(&event);
        }
        assert_eq!(warnings.seen.get("rejected_record"), Some(&5000));
    }
}
