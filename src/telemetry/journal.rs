//! Logging under systemd. The journal adds its own timestamp to every line, and reads a
//! `<N>` prefix (syslog priority) as the entry's priority and strips it, so under systemd
//! lines carry the prefix and text lines drop the program's own time. `journalctl -p warning
//! -u xtrakit-sync` then shows warnings and errors only.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Whether stderr is the journal stream systemd connected: `JOURNAL_STREAM` holds the
/// `device:inode` of that stream, and it must still be our stderr (a child of a service, or
/// a shell started from one, inherits the variable with another stderr).
pub(crate) fn stderr_is_journal() -> bool {
    let Some(expected) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = expected.to_str().and_then(parse_stream) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|meta| meta.dev() == dev && meta.ino() == ino)
}

/// `JOURNAL_STREAM`'s value: two decimal numbers, `device:inode`.
fn parse_stream(raw: &str) -> Option<(u64, u64)> {
    let (dev, ino) = raw.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// The syslog priority journald reads from a `<N>` prefix.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Writes each event whole to stderr, every line of it prefixed with its priority.
pub(crate) struct JournalWriter;

/// One event, gathered and written when dropped.
pub(crate) struct JournalLine {
    priority: u8,
    text: Vec<u8>,
}

impl<'a> MakeWriter<'a> for JournalWriter {
    type Writer = JournalLine;

    fn make_writer(&'a self) -> JournalLine {
        JournalLine {
            priority: priority(&Level::INFO),
            text: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> JournalLine {
        JournalLine {
            priority: priority(meta.level()),
            text: Vec::new(),
        }
    }
}

impl Write for JournalLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for JournalLine {
    fn drop(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let out = prefixed(self.priority, &self.text);
        // A log line that cannot be written has nowhere else to go.
        let _ = std::io::stderr().lock().write_all(&out);
    }
}

/// `text` with `<priority>` before each of its lines: journald makes one entry per line.
fn prefixed(priority: u8, text: &[u8]) -> Vec<u8> {
    let prefix = format!("<{priority}>");
    let mut out = Vec::with_capacity(text.len() + prefix.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_an_event_gets_the_priority_prefix() {
        let out = prefixed(4, b"first\nsecond\n");
        assert_eq!(out, b"<4>first\n<4>second\n");
    }

    #[test]
    fn warnings_and_errors_map_to_syslog_priorities() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
    }

    #[test]
    fn the_stream_variable_is_device_colon_inode() {
        assert_eq!(parse_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_stream("8"), None);
        assert_eq!(parse_stream("x:1"), None);
    }
}
