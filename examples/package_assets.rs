//! Writes the files the Debian package ships besides the binary, generated from the clap
//! definitions so they cannot drift from `--help`: man pages (`xtrakit-sync.1` and one per
//! subcommand) and shell completions for bash, zsh and fish.
//!
//! cargo run --example package_assets -- OUT_DIR
//!
//! `packaging/build-deb` runs it before `cargo deb`; it writes `OUT_DIR/man/*.1` and
//! `OUT_DIR/completions/{xtrakit-sync.bash,_xtrakit-sync,xtrakit-sync.fish}`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;
use xtrakit_sync::cli::args::Cli;

const NAME: &str = "xtrakit-sync";

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: package_assets OUT_DIR");
        return ExitCode::from(2);
    };
    match write_all(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("package_assets: cannot write into {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn write_all(out: &Path) -> std::io::Result<()> {
    let man = out.join("man");
    let completions = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    clap_mangen::generate_to(Cli::command(), &man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), NAME, &completions)?;
    }
    Ok(())
}
