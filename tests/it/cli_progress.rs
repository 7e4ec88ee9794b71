//! `--once`'s live progress line: drawn only when stderr is a terminal (a pseudo-terminal
//! here), never in a pipe, the journal (`JOURNAL_STREAM`) or JSON logs; cleared at the end,
//! leaving the run's "sync succeeded" line. The daemon never draws one.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::fake_api::{FakeOptions, Fault, MetaLocation, Pagination};
use crate::helpers::{assert_exit, send_signal, spawn_app_with, stderr, TestApp};

/// 30 pages of 100, each a little slow, so the line is drawn while the run goes on.
async fn paged_app() -> TestApp {
    let app = spawn_app_with(FakeOptions {
        groups: 3000,
        per_page: 100,
        pagination: Pagination::Numbered {
            location: MetaLocation::InMeta,
        },
        ..FakeOptions::default()
    })
    .await;
    for _ in 0..30 {
        app.api.push_fault(Fault::Slow {
            delay: Duration::from_millis(20),
        });
    }
    app
}

/// A pseudo-terminal 120 columns wide: `(master, slave)`, neither inherited by children
/// other tests spawn meanwhile.
// Allowed: a terminal for the child needs openpty and fcntl, which std does not wrap.
#[allow(unsafe_code)]
fn open_pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: valid out-pointers; null name and termios are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two open descriptors that nothing else owns.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&master, &slave] {
        // SAFETY: fcntl on an open descriptor.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: fcntl on an open descriptor.
    unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    (master, slave)
}

/// Reads whatever the master holds now; `false` once nothing more can come.
// Allowed: a non-blocking read of the pty master, which std does not wrap.
#[allow(unsafe_code)]
fn drain(master: &OwnedFd, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reads into a buffer of the length given.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            into.extend_from_slice(&buf[..n as usize]);
            continue;
        }
        let err = std::io::Error::last_os_error();
        return n < 0 && err.kind() == std::io::ErrorKind::WouldBlock;
    }
}

/// Runs `--once` with a pseudo-terminal as stderr; returns the exit status and all it drew.
async fn once_on_a_pty(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let args: Vec<&str> = ["--once"].into_iter().chain(args.iter().copied()).collect();
    on_a_pty(app, &args, env, None).await
}

/// Runs the binary with a pseudo-terminal as stderr until it exits, sending SIGTERM once
/// its output shows `stop_at`; returns the exit status and all it drew.
async fn on_a_pty(
    app: &TestApp,
    args: &[&str],
    env: &[(&str, &str)],
    mut stop_at: Option<&str>,
) -> (ExitStatus, String) {
    let (master, slave) = open_pty();
    let mut cmd = app.command();
    cmd.args(args).envs(env.iter().copied());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave));
    let mut child = cmd.spawn().expect("binary runs");
    drop(cmd);
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        drain(&master, &mut out);
        if let Some(status) = child.try_wait().expect("child status") {
            break status;
        }
        if stop_at.is_some_and(|t| String::from_utf8_lossy(&out).contains(t)) {
            let pid = child.id().expect("child running");
            send_signal(pid, "TERM").await;
            stop_at = None;
        }
        assert!(Instant::now() < deadline, "binary finishes");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // What the child wrote before it left is still in the master's buffer.
    drain(&master, &mut out);
    (status, String::from_utf8_lossy(&out).into_owned())
}

/// The text without the log's colour codes (`ESC [ ... m`); the line's own codes stay.
fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        plain.push_str(&rest[..at]);
        let code = &rest[at + 2..];
        match code.find(|c: char| !(c.is_ascii_digit() || c == ';')) {
            Some(end) if code[end..].starts_with('m') => rest = &code[end + 1..],
            _ => {
                plain.push_str("\x1b[");
                rest = code;
            }
        }
    }
    plain.push_str(rest);
    plain
}

#[tokio::test]
async fn a_terminal_shows_the_progress_line_and_clears_it_at_the_end() {
    let app = paged_app().await;
    let (status, out) = once_on_a_pty(&app, &[], &[]).await;
    assert_eq!(status.code(), Some(0), "{out}");
    let plain = without_colours(&out);
    assert!(plain.contains("received=3000"), "{plain:?}");
    assert!(out.contains("syncing: "), "no progress line:\n{out:?}");
    assert!(out.contains(" of 30 pages, "), "no page estimate:\n{out:?}");
    assert!(out.contains("00 records"), "no record count:\n{out:?}");
    assert!(
        out.contains("30 of 30 pages") || out.contains("records/s"),
        "{out:?}"
    );
    assert!(out.contains("sync succeeded"), "{out:?}");
    // Cleared: nothing of the line is left after the last erase.
    let last_erase = out.rfind("\x1b[2K").expect("the line is erased");
    let tail = &out[last_erase..];
    assert!(!tail.contains("syncing"), "line left drawn: {tail:?}");
    // Log lines are never broken by the line: a row that holds one shows, after the line
    // is erased ("\r" then erase-line), nothing of the line.
    let rows: Vec<&str> = out.split('\n').filter(|r| r.contains("sync s")).collect();
    assert_eq!(rows.len(), 2, "sync started and succeeded: {out:?}");
    for row in rows {
        let shown = row.rsplit("\x1b[2K").next().unwrap_or(row);
        assert!(!shown.contains("syncing"), "a log line garbled: {row:?}");
        assert!(shown.contains("sync s"), "a log line erased: {row:?}");
    }
}

#[tokio::test]
async fn a_pipe_gets_no_progress_line() {
    let app = paged_app().await;
    let out = app.run_binary(&["--once"], &[]).await;
    assert_exit(&out, 0);
    let log = stderr(&out);
    assert!(log.contains("sync succeeded"), "{log}");
    assert!(!log.contains('\r'), "a carriage return: {log:?}");
    assert!(!log.contains("syncing"), "{log}");
    assert!(!log.contains('\x1b'), "terminal codes in a pipe: {log:?}");
}

#[tokio::test]
async fn the_journal_and_json_logs_get_no_progress_line_even_on_a_terminal() {
    let app = paged_app().await;
    let journal: &[(&str, &str)] = &[("JOURNAL_STREAM", "8:12345")];
    let (status, out) = once_on_a_pty(&app, &[], journal).await;
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(out.contains("sync succeeded"), "{out:?}");
    assert!(!out.contains("syncing"), "journal: {out:?}");

    let (status, out) = once_on_a_pty(&app, &["--log-format", "json"], &[]).await;
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(out.contains("sync succeeded"), "{out:?}");
    assert!(!out.contains("syncing"), "json: {out:?}");
}

#[tokio::test]
async fn the_daemon_gets_no_progress_line_even_on_a_terminal() {
    let app = paged_app().await;
    let args = [
        "run",
        "--schedule",
        "0 0 0 1 1 *",
        "--full-sync-schedule",
        "",
    ];
    let (status, out) = on_a_pty(&app, &args, &[], Some("sync succeeded")).await;
    assert_eq!(status.code(), Some(0), "{out:?}");
    assert!(out.contains("sync succeeded"), "{out:?}");
    assert!(!out.contains("syncing"), "daemon: {out:?}");
}
