//! `status`: per scope the watermark, last success and last run; the recent runs; row counts;
//! and the health verdict (`--check` turns it into the exit code).

use super::output::{out, outln};
use std::fmt::Write as _;

use std::time::Duration;

use serde::Serialize;

use super::health::{self, Health};
use crate::config::{Settings, Source};
use crate::domain::{now_utc, Scope};
use crate::outcome::Exit;
use crate::store::{RecentRun, StatusReport, Store, StoreError};

/// `status --check` when a scope is stale or never succeeded: the code of a failed sync,
/// which is what it amounts to.
pub(super) const EXIT_UNHEALTHY: Exit = Exit::SyncFailed;

/// What `status` was asked for.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ask {
    pub json: bool,
    /// Exit 1 when the health verdict is not ok.
    pub check: bool,
    pub max_age: Duration,
}

/// The status report as JSON: the store's report and the health verdict beside it.
#[derive(Serialize)]
struct JsonStatus<'a> {
    #[serde(flatten)]
    report: &'a StatusReport,
    health: &'a Health,
}

pub(super) async fn show(settings: &Settings, ask: Ask) -> Exit {
    let report = match read(settings).await {
        Ok(report) => report,
        Err(code) => return code,
    };
    let health = health::judge(
        &report.scopes,
        &expected_scopes(settings),
        ask.max_age,
        now_utc(),
    );
    let verdict = if ask.check && !health.healthy {
        EXIT_UNHEALTHY
    } else {
        Exit::Ok
    };
    if ask.json {
        let json = JsonStatus {
            report: &report,
            health: &health,
        };
        match serde_json::to_string_pretty(&json) {
            Ok(text) => outln!("{text}"),
            Err(e) => {
                eprintln!("xtrakit-sync: cannot encode the status: {e}");
                return Exit::Database;
            }
        }
    } else if ask.check {
        outln!("{}", health.summary);
    } else {
        out!("{}", render(&report));
        outln!("\nhealth: {}", health.summary);
    }
    verdict
}

/// The configured scopes when business codes were set anywhere; else none, and the scopes
/// the database holds are judged (an analyst running `status --db …` has no config).
fn expected_scopes(settings: &Settings) -> Vec<String> {
    if *settings.source_of("business_codes") == Source::Default {
        return Vec::new();
    }
    Scope::from_codes(&settings.business_codes)
        .iter()
        .map(Scope::key)
        .collect()
}

/// The report, or the exit code of why the database cannot give one (said once).
async fn read(settings: &Settings) -> Result<StatusReport, Exit> {
    let store = open_existing(settings, false).await?;
    let report = store.status().await;
    store.close().await;
    report.map_err(|e| database_error(settings, &e, false))
}

/// Opens a database that must already exist: read-only to look (any member of the
/// service's group may), read-write to change it. A problem is said once (exit 4).
pub(super) async fn open_existing(settings: &Settings, write: bool) -> Result<Store, Exit> {
    let location = &settings.database;
    if let Some(problem) = crate::startup::database::diagnose_location(location, write) {
        eprintln!("xtrakit-sync: {problem}");
        return Err(Exit::Database);
    }
    if location.sqlite_path().is_some_and(|path| !path.exists()) {
        eprintln!(
            "xtrakit-sync: no database at {location} yet (run `xtrakit-sync migrate` or a sync first)"
        );
        return Err(Exit::Database);
    }
    let store = if write {
        Store::open(location).await
    } else {
        Store::open_read_only(location).await
    };
    store.map_err(|e| database_error(settings, &e, write))
}

/// Says once what is wrong with the database; returns the exit code.
pub(super) fn database_error(settings: &Settings, e: &StoreError, write: bool) -> Exit {
    if let StoreError::TooNew { .. } = e {
        eprintln!("xtrakit-sync: {e}");
        return Exit::DatabaseTooNew;
    }
    let text = crate::startup::database::explain(&settings.database, e, write);
    eprintln!("xtrakit-sync: {text}");
    Exit::Database
}

fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "database: {}", report.database);
    let c = &report.counts;
    let _ = writeln!(
        out,
        "groups: {} live, {} deleted; history rows: {}; runs: {}; log events: {} ({})",
        c.live_groups,
        c.deleted_groups,
        c.history_rows,
        c.sync_runs,
        c.log_events,
        plural(c.auth_failures, "auth failure", "auth failures")
    );
    let _ = writeln!(out, "\nscopes:");
    if report.scopes.is_empty() {
        let _ = writeln!(out, "  (no sync has run yet)");
    }
    for s in &report.scopes {
        let _ = writeln!(out, "  {}", s.scope);
        let _ = writeln!(out, "    watermark:      {}", or_never(&s.watermark));
        let _ = writeln!(out, "    last success:   {}", or_never(&s.last_success_at));
        let _ = writeln!(
            out,
            "    last full sync: {}",
            or_never(&s.last_full_sync_at)
        );
        match &s.last_run {
            Some(run) => {
                let _ = writeln!(out, "    last run:       {}", one_line(run));
            }
            None => {
                let _ = writeln!(out, "    last run:       never");
            }
        }
    }
    if !report.recent_runs.is_empty() {
        let _ = writeln!(out, "\nrecent runs (newest first):");
    }
    for run in &report.recent_runs {
        let _ = writeln!(out, "  {}", one_line(run));
    }
    out
}

/// "1 auth failure", "2 auth failures".
fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn or_never(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("never")
}

pub(super) fn one_line(run: &RecentRun) -> String {
    let scope = run
        .business_code
        .map_or_else(|| "all".to_owned(), |c| format!("business_code={c}"));
    let mut line = format!(
        "#{} {} {} {} {} {} received={} inserted={} updated={} unchanged={} rejected={} deleted={} restored={}",
        run.id,
        run.started_at,
        scope,
        run.trigger,
        run.mode,
        run.status,
        run.received,
        run.inserted,
        run.updated,
        run.unchanged,
        run.rejected,
        run.deleted,
        run.restored
    );
    if let Some(ms) = run.duration_ms {
        let ms = u64::try_from(ms).unwrap_or(0);
        let _ = write!(line, " {}", crate::domain::format_millis(ms));
    }
    if let Some(error) = &run.error {
        let _ = write!(line, " error: {error}");
    }
    line
}
