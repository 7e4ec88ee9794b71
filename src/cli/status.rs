//! `status`: per scope the watermark, last success and last run; the recent runs; row counts.

use std::fmt::Write as _;

use crate::config::Settings;
use crate::outcome::{EXIT_DATABASE, EXIT_OK};
use crate::store::{RecentRun, StatusReport, Store};

pub async fn show(settings: &Settings, json: bool) -> u8 {
    if let Some(problem) = super::database::diagnose(&settings.database, false) {
        eprintln!("xtrakit-sync: {problem}");
        return EXIT_DATABASE;
    }
    if !settings.database.exists() {
        eprintln!(
            "xtrakit-sync: no database at {} yet (run `xtrakit-sync migrate` or a sync first)",
            settings.database.display()
        );
        return EXIT_DATABASE;
    }
    let report = match Store::open_read_only(&settings.database).await {
        Ok(store) => {
            let report = store.status().await;
            store.close().await;
            report
        }
        Err(e) => Err(e),
    };
    match report {
        Ok(report) if json => match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                println!("{text}");
                EXIT_OK
            }
            Err(e) => {
                eprintln!("xtrakit-sync: cannot encode the status: {e}");
                EXIT_DATABASE
            }
        },
        Ok(report) => {
            print!("{}", render(&report));
            EXIT_OK
        }
        Err(e) => {
            let text = super::database::explain(&settings.database, &e, false);
            eprintln!("xtrakit-sync: {text}");
            EXIT_DATABASE
        }
    }
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

fn one_line(run: &RecentRun) -> String {
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
