//! Standard output for the reporting commands. A reader that stops early (`status --json |
//! head`) closes the pipe; that ends the command quietly with success instead of a panic,
//! since everything the reader wanted was written.

use std::fmt;
use std::io::{ErrorKind, Write};

/// Writes `text` and, when `newline`, a line break; see the module for a closed pipe.
pub(crate) fn write(text: fmt::Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(text).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("xtrakit-sync: cannot write the output: {e}");
            std::process::exit(1);
        }
    }
}

/// `println!` that ends the process quietly when the reader has gone.
macro_rules! outln {
    () => {
        $crate::cli::output::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!($($arg)*), true)
    };
}

/// `print!` that ends the process quietly when the reader has gone.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!($($arg)*), false)
    };
}

pub(crate) use {out, outln};
