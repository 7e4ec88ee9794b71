//! The launcher process that starts each sync, so that the peak memory measured is the
//! sync's own, and the `wait4` that reads it.

use super::*;

/// A small process that starts each sync and reports its wall time and peak memory.
///
/// `ru_maxrss` of a child counts the peak of the process that spawned it (Rust spawns with
/// `vfork` semantics, and the peak survives `exec`), and this process holds the fake's data
/// and the floor's response bodies: hundreds of MiB. The launcher is this same binary,
/// started before any of that, so what it adds is its own peak of a few MiB, printed with the
/// results as a lower bound of any RSS figure.
pub(crate) struct Launcher {
    pub(crate) child: std::process::Child,
    pub(crate) input: std::process::ChildStdin,
    pub(crate) output: BufReader<std::process::ChildStdout>,
    pub(crate) peak_kib: u64,
}

pub(crate) const LAUNCHER_ENV: &str = "XTRAKIT_BENCH_LAUNCHER";

pub(crate) struct Ran {
    pub(crate) code: i32,
    pub(crate) wall: f64,
    pub(crate) rss_kib: u64,
}

impl Launcher {
    pub(crate) fn start() -> Launcher {
        let exe = std::env::current_exe().expect("this benchmark's path");
        let mut child = Command::new(exe)
            .env(LAUNCHER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("launcher starts");
        let input = child.stdin.take().expect("launcher stdin");
        let output = BufReader::new(child.stdout.take().expect("launcher stdout"));
        Launcher {
            child,
            input,
            output,
            peak_kib: 0,
        }
    }

    /// One sync into `db` (a SQLite path or a PostgreSQL URL), its log in `dir`.
    pub(crate) fn run(&mut self, db: &str, dir: &Path, base_url: &str) -> Ran {
        let dir = dir.to_str().expect("UTF-8 temp path");
        writeln!(self.input, "{db}\t{dir}\t{base_url}").expect("launcher request");
        self.input.flush().expect("launcher request");
        let mut line = String::new();
        self.output.read_line(&mut line).expect("launcher answer");
        let fields: Vec<&str> = line.trim().split('\t').collect();
        let [code, wall, rss, own] = fields[..] else {
            panic!("launcher answered {line:?}");
        };
        self.peak_kib = own.parse().expect("launcher peak");
        Ran {
            code: code.parse().expect("exit code"),
            wall: wall.parse().expect("wall time"),
            rss_kib: rss.parse().expect("peak RSS"),
        }
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The launcher's loop: for each `DB<TAB>DIR<TAB>BASE_URL` line, one `xtrakit-sync --once`
/// (PostgreSQL's `PG…` variables passed on, for its password); answers
/// `EXIT_CODE<TAB>WALL_SECONDS<TAB>PEAK_RSS_KIB<TAB>OWN_PEAK_KIB`.
pub(crate) fn launcher() {
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("request");
        let mut fields = line.splitn(3, '\t');
        let (Some(db), Some(dir), Some(base_url)) = (fields.next(), fields.next(), fields.next())
        else {
            panic!("DB<TAB>DIR<TAB>BASE_URL, not {line:?}");
        };
        let dir = Path::new(dir);
        let log = std::fs::File::create(dir.join("sync.log")).expect("log file");
        let started = Instant::now();
        // Reaped by `wait_with_rusage`, which `Child::wait` cannot replace: it drops the rusage.
        #[allow(clippy::zombie_processes)]
        let child = Command::new(BINARY)
            .arg("--once")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("XTRAKIT_DB", db)
            .env("XTRAKIT_BASE_URL", base_url)
            .env("XTRAKIT_API_KEY", KEY)
            .env("XTRAKIT_LOG_FORMAT", "text")
            .envs(std::env::vars().filter(|(k, _)| k.starts_with("PG")))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the sync binary starts");
        let (code, rss_kib) = wait_with_rusage(child.id() as libc::pid_t);
        let wall = started.elapsed().as_secs_f64();
        let own = own_peak_kib();
        writeln!(out, "{code}\t{wall}\t{rss_kib}\t{own}").expect("answer");
        out.flush().expect("answer");
    }
}

/// VmHWM of this process.
pub(crate) fn own_peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// Reaps the child and returns its exit code (or 128 + signal) and its peak RSS in KiB.
// Allowed: peak RSS of a child needs wait4, which std does not wrap.
#[allow(unsafe_code)]
pub(crate) fn wait_with_rusage(pid: libc::pid_t) -> (i32, u64) {
    let mut status: c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet reaped; both pointers are valid for writes.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(err.kind(), std::io::ErrorKind::Interrupted, "wait4: {err}");
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    // Linux reports ru_maxrss in KiB.
    (code, usage.ru_maxrss as u64)
}

/// What a scenario is compared against: the database as the previous sync left it.
pub(crate) struct Snapshot {
    pub(crate) last_changed: String,
    pub(crate) history: u64,
    pub(crate) last_received: u64,
    /// The `updated_at` an incremental sync will send (watermark date less a day, the
    /// default lookback), or empty.
    pub(crate) filter: String,
}

impl Snapshot {
    pub(crate) fn take(path: &Path) -> Snapshot {
        let db = Db::open(path);
        Snapshot {
            last_changed: db.text("SELECT coalesce(max(last_changed_at), '') FROM customer_groups"),
            history: db.count("SELECT count(*) FROM customer_group_history"),
            last_received: db.count(
                "SELECT coalesce((SELECT received FROM sync_runs ORDER BY id DESC LIMIT 1), 0)",
            ),
            filter: db.text(
                "SELECT coalesce((SELECT date(watermark, '-1 day') FROM sync_state \
                 WHERE scope = 'all'), '')",
            ),
        }
    }
}
