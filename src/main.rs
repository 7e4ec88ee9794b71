//! Entry point: parse the command line, start the runtime, hand over to the library.

use std::process::ExitCode;
use std::time::Duration;

use xtrakit_sync::cli::{self, args::Cli};
use xtrakit_sync::telemetry;

fn main() -> ExitCode {
    let args = Cli::parse_args();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xtrakit-sync: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let exit = runtime.block_on(cli::run(args)).unwrap_or_else(|e| {
        eprintln!("{}xtrakit-sync: {e}", telemetry::error_line_prefix());
        e.exit()
    });
    // A database thread still waiting on another process's lock must not keep the process
    // past its shutdown promise: whatever it had not committed, SQLite discards.
    runtime.shutdown_timeout(Duration::from_millis(500));
    ExitCode::from(exit)
}
