//! Entry point: parse the command line, start the runtime, hand over to the library.

use std::process::ExitCode;

use xtrakit_sync::cli::{self, args::Cli};

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
    ExitCode::from(runtime.block_on(cli::run(args)))
}
