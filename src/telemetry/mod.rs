//! Logging: human-readable lines or JSON on stderr, level from `RUST_LOG`, `info` by
//! default. Lines are written whole, above `--once`'s progress line when one is drawn.
//! When stderr is the journal (under systemd), every line carries its priority and text
//! lines leave the timestamp to journald (see [`journal`]).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

mod journal;
pub(crate) mod progress;

/// What goes before a line that `main` prints itself (an error that stopped the command,
/// possibly before logging was set up): the error priority when stderr is the journal, so
/// `journalctl -p err` shows a configuration error too; else nothing.
pub fn error_line_prefix() -> &'static str {
    if journal::stderr_is_journal() {
        "<3>"
    } else {
        ""
    }
}

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tokio_cron_scheduler=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if journal::stderr_is_journal() {
        let builder = builder.with_writer(journal::JournalWriter).with_ansi(false);
        match format {
            LogFormat::Text => builder.without_time().try_init(),
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
        }
    } else {
        let builder = builder
            .with_writer(progress::LogWriter)
            .with_ansi(std::io::stderr().is_terminal());
        match format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
        }
    };
}
