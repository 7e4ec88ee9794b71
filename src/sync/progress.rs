//! How far a run has come, for whoever watches. The sync layer only publishes numbers, one
//! update per written page; drawing them (`--once` in a terminal) is the command line's job,
//! so the daemon and the journal never see a progress line.

use tokio::sync::watch;

use super::run::Run;
use crate::api::ParsedBody;

/// One run's progress so far. A new `run_id` starts a new count (one run per scope).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub run_id: i64,
    /// Pages written in this run, every listing of it included.
    pub pages: u64,
    /// Records received in this run, rejected and duplicate ones included.
    pub records: u64,
    /// The last page number the latest page announced (`last_page`), if any.
    pub last_page: Option<u64>,
    /// The largest count the run's pages announced ("Groups found: N"), if any. An API may
    /// count per page or per listing, so a watcher should trust it only while it exceeds
    /// `records`.
    pub announced: Option<u64>,
}

/// Where a [`Syncer`](super::Syncer) sends its progress; the receiver may be gone.
pub type ProgressSender = watch::Sender<Progress>;

impl Run<'_> {
    /// Publishes the tally after a written page; free when nobody watches.
    pub(super) fn report_progress(&self, body: &ParsedBody) {
        let Some(sender) = &self.syncer.progress else {
            return;
        };
        let announced = body.announced_count();
        sender.send_modify(|p| {
            if p.run_id != self.run_id {
                *p = Progress {
                    run_id: self.run_id,
                    ..Progress::default()
                };
            }
            p.pages = self.tally.pages;
            p.records = self.tally.received;
            p.last_page = body.last_page;
            p.announced = p.announced.max(announced);
        });
    }
}
