//! The live progress line of `--once` in a terminal: pages, records, rate, and an estimate
//! when the API announces `last_page` or a count. A long first sync otherwise prints nothing
//! for seconds. Never drawn into the journal, a pipe, a file, or JSON logs: there it would
//! be noise (carriage returns and repeated text) in what machines read.
//!
//! Log lines go through [`LogWriter`], which lifts the line out of the way while each one is
//! written, so a warning prints above the line instead of through it.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;
use crate::sync::{Progress, ProgressSender};

/// The line being drawn, if any: what [`LogWriter`] steps around.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// How often the spinner turns while a page is slow to come, so the line shows it is alive.
const TICK: Duration = Duration::from_millis(250);

/// Whether this `--once` may draw a progress line: stderr is a terminal, not the journal
/// (systemd sets `JOURNAL_STREAM` for a unit whose stderr it reads), and logs are text.
pub(crate) fn wanted(format: LogFormat) -> bool {
    format == LogFormat::Text
        && std::env::var_os("JOURNAL_STREAM").is_none()
        && std::io::stderr().is_terminal()
}

/// A drawn progress line and the task that feeds it from the syncer's updates.
pub(crate) struct ProgressLine {
    bar: ProgressBar,
    task: JoinHandle<()>,
}

impl ProgressLine {
    /// Starts drawing at once ("syncing: starting") and returns the sender to put
    /// on the `Syncer`.
    pub(crate) fn start() -> (ProgressLine, ProgressSender) {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(20));
        let style = ProgressStyle::with_template("{spinner} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_message("syncing: starting");
        bar.enable_steady_tick(TICK);
        *ACTIVE.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
        let (sender, receiver) = watch::channel(Progress::default());
        let task = tokio::spawn(follow(bar.clone(), receiver));
        (ProgressLine { bar, task }, sender)
    }

    /// Removes the line, leaving the log lines (the run's "sync succeeded") as they were.
    pub(crate) fn finish(self) {
        self.task.abort();
        erase();
        self.bar.finish_and_clear();
    }
}

/// Erases the line now, if one is drawn: an exit that skips [`ProgressLine::finish`] (a
/// second Ctrl-C) must not leave it on the screen with the shell prompt after it.
pub(crate) fn erase() {
    if let Some(bar) = ACTIVE.lock().unwrap_or_else(PoisonError::into_inner).take() {
        bar.finish_and_clear();
    }
}

/// Redraws the line on every update, one per written page (indicatif itself holds redraws
/// to 20 a second, with bursts: the first pages always show).
async fn follow(bar: ProgressBar, mut updates: watch::Receiver<Progress>) {
    // The first run is timed from the start, its first page included; a later scope's run
    // from its first page, as no update marks its start.
    let mut base = Base {
        run_id: None,
        at: Instant::now(),
        pages: 0,
        records: 0,
    };
    while updates.changed().await.is_ok() {
        let progress = updates.borrow_and_update().clone();
        if base.run_id != Some(progress.run_id) {
            if base.run_id.is_some() {
                base.at = Instant::now();
                base.pages = progress.pages;
                base.records = progress.records;
            }
            base.run_id = Some(progress.run_id);
        }
        let pace = Pace {
            pages: progress.pages.saturating_sub(base.pages),
            records: progress.records.saturating_sub(base.records),
            elapsed: base.at.elapsed(),
        };
        bar.set_message(line(&progress, &pace));
    }
}

/// Where the pace of a run is measured from.
struct Base {
    run_id: Option<i64>,
    at: Instant,
    pages: u64,
    records: u64,
}

/// Work done in `elapsed`: the pace the rate and the estimate are taken from.
pub(crate) struct Pace {
    pub pages: u64,
    pub records: u64,
    pub elapsed: Duration,
}

/// The text of the line, e.g. "syncing: 12 of 30 pages, 1200 records of 3000, 2400
/// records/s, about 4 s left". The estimate is shown only when the API announced what is
/// coming.
pub(crate) fn line(p: &Progress, pace: &Pace) -> String {
    let pages = match p.last_page.filter(|last| *last >= p.pages) {
        Some(last) => format!("{} of {last} pages", p.pages),
        None => format!("{} pages", p.pages),
    };
    let mut text = format!("syncing: {pages}, {} records", p.records);
    if let Some(total) = p.announced.filter(|n| *n > p.records) {
        text.push_str(&format!(" of {total}"));
    }
    let secs = pace.elapsed.as_secs_f64();
    if secs >= 0.1 && pace.records > 0 {
        let rate = pace.records as f64 / secs;
        text.push_str(&format!(", {rate:.0} records/s"));
        if let Some(left) = remaining(p, pace, secs) {
            text.push_str(&format!(", about {} left", duration_text(left)));
        }
    }
    text
}

/// Seconds still to go at the pace so far: by pages when `last_page` is known, else by the
/// announced count of records.
fn remaining(p: &Progress, pace: &Pace, secs: f64) -> Option<f64> {
    if let Some(last) = p.last_page.filter(|last| *last > p.pages && pace.pages > 0) {
        return Some((last - p.pages) as f64 * secs / pace.pages as f64);
    }
    let total = p.announced.filter(|n| *n > p.records)?;
    Some((total - p.records) as f64 * secs / pace.records as f64)
}

fn duration_text(secs: f64) -> String {
    let secs = secs.ceil() as u64;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// Stderr for log lines; while a progress line is drawn, each log line is written with the
/// progress line lifted (cleared, then drawn again below the log line).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LogWriter;

/// One log line, gathered and written whole when dropped.
pub(crate) struct LogLine(Vec<u8>);

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let active = ACTIVE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // A log line that cannot be written has nowhere else to go.
        let write = || {
            let _ = std::io::stderr().lock().write_all(&self.0);
        };
        match active {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(pages: u64, records: u64, last: Option<u64>, announced: Option<u64>) -> Progress {
        Progress {
            run_id: 1,
            pages,
            records,
            last_page: last,
            announced,
        }
    }

    fn pace(pages: u64, records: u64, secs: u64) -> Pace {
        Pace {
            pages,
            records,
            elapsed: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_later_run_is_paced_from_its_own_first_page() {
        let p = progress(12, 1200, Some(20), None);
        let text = line(&p, &pace(2, 200, 1));
        assert!(text.ends_with("200 records/s, about 4 s left"), "{text}");
    }

    #[test]
    fn the_line_estimates_by_pages_when_last_page_is_known() {
        let p = progress(10, 1000, Some(30), Some(3000));
        let text = line(&p, &pace(10, 1000, 2));
        assert_eq!(
            text,
            "syncing: 10 of 30 pages, 1000 records of 3000, 500 records/s, about 4 s left"
        );
    }

    #[test]
    fn the_line_estimates_by_records_from_an_announced_count() {
        let p = progress(2, 200, None, Some(30_200));
        let text = line(&p, &pace(2, 200, 1));
        assert!(
            text.ends_with("200 records/s, about 2 min 30 s left"),
            "{text}"
        );
    }

    #[test]
    fn without_an_announcement_there_is_no_estimate() {
        let p = progress(3, 300, None, Some(100));
        let text = line(&p, &pace(3, 300, 3));
        assert_eq!(text, "syncing: 3 pages, 300 records, 100 records/s");
    }
}
