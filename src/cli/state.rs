//! `state`: each scope's watermark and last runs, and the two levers on them.
//! `state reset --scope S` clears the watermark, so the scope's next run is full;
//! `state set-watermark --scope S TIME` makes the next incremental run ask from TIME
//! (less `lookback_days`). Both are refused while a sync holds `<db>.lock`, and both are
//! logged in `sync_log` (`state_reset`, `watermark_set`) with the watermark they replaced.

use super::output::outln;
use chrono::{NaiveDate, NaiveDateTime};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;

use super::args::CommonArgs;
use super::status::{database_error, one_line, open_existing};
use crate::config::Settings;
use crate::domain::{format_timestamp, Scope, TIMESTAMP_FORMAT};
use crate::outcome::Exit;
use crate::store::{Level, LogEvent, RecentRun, ScopeStatus};

/// How many runs `state` shows per scope.
const RUNS_SHOWN: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum StateCommand {
    /// Clear a scope's watermark: its next run is full.
    Reset(ScopeTarget),
    /// Set a scope's watermark: its next incremental run asks from TIME less lookback_days.
    SetWatermark {
        #[command(flatten)]
        target: ScopeTarget,
        /// UTC, "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DD".
        #[arg(value_name = "TIME", value_parser = parse_time)]
        time: NaiveDateTime,
    },
}

/// The scope a state command changes, and the common flags.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ScopeTarget {
    /// `all` (no business code) or a business code, e.g. 7 or business_code=7.
    #[arg(long, value_name = "SCOPE", value_parser = parse_scope)]
    scope: Scope,
    #[command(flatten)]
    common: CommonArgs,
}

/// What a state command asks for, without its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateChange {
    Reset(Scope),
    SetWatermark(Scope, NaiveDateTime),
}

impl StateCommand {
    pub fn change(&self) -> StateChange {
        match self {
            StateCommand::Reset(t) => StateChange::Reset(t.scope),
            StateCommand::SetWatermark { target, time } => {
                StateChange::SetWatermark(target.scope, *time)
            }
        }
    }

    pub fn common(&self) -> &CommonArgs {
        match self {
            StateCommand::Reset(t) | StateCommand::SetWatermark { target: t, .. } => &t.common,
        }
    }
}

fn parse_scope(raw: &str) -> Result<Scope, String> {
    let raw = raw.trim();
    if raw == "all" {
        return Ok(Scope::ALL);
    }
    let code = raw.strip_prefix("business_code=").unwrap_or(raw);
    code.parse::<i64>()
        .ok()
        .filter(|c| *c >= 0)
        .map(Scope::business)
        .ok_or_else(|| format!("{raw:?} is not a scope: use all, or a business code like 7"))
}

fn parse_time(raw: &str) -> Result<NaiveDateTime, String> {
    let raw = raw.trim();
    NaiveDateTime::parse_from_str(raw, TIMESTAMP_FORMAT)
        .or_else(|_| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d").map(|d| d.and_time(Default::default()))
        })
        .map_err(|_| {
            format!("{raw:?} is not a UTC time like \"2026-11-30 00:00:00\" or 2026-11-30")
        })
}

/// One scope in `state --json`.
#[derive(Serialize)]
struct ScopeView<'a> {
    #[serde(flatten)]
    state: &'a ScopeStatus,
    runs: Vec<RecentRun>,
}

/// `state`, `state reset` or `state set-watermark`.
pub(super) async fn run(settings: &Settings, json: bool, change: Option<StateChange>) -> Exit {
    match change {
        None => show(settings, json).await,
        Some(StateChange::Reset(scope)) => change_watermark(settings, scope, None).await,
        Some(StateChange::SetWatermark(scope, at)) => {
            change_watermark(settings, scope, Some(at)).await
        }
    }
}

async fn show(settings: &Settings, json: bool) -> Exit {
    let store = match open_existing(settings, false).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let report = match store.status().await {
        Ok(report) => report,
        Err(e) => return database_error(settings, &e, false),
    };
    let mut views = Vec::with_capacity(report.scopes.len());
    for state in &report.scopes {
        let scope = state.business_code.map_or(Scope::ALL, Scope::business);
        match store.runs_of_scope(&scope, RUNS_SHOWN).await {
            Ok(runs) => views.push(ScopeView { state, runs }),
            Err(e) => return database_error(settings, &e, false),
        }
    }
    store.close().await;
    if json {
        return print_json(&views);
    }
    if views.is_empty() {
        outln!("no scope has state yet (no sync has run)");
    }
    for view in &views {
        print_scope(view);
    }
    Exit::Ok
}

fn print_json<T: Serialize>(value: &T) -> Exit {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            outln!("{text}");
            Exit::Ok
        }
        Err(e) => {
            eprintln!("xtrakit-sync: cannot encode the output: {e}");
            Exit::Database
        }
    }
}

fn print_scope(view: &ScopeView<'_>) {
    let s = view.state;
    let never = |v: &Option<String>| v.clone().unwrap_or_else(|| "never".to_owned());
    let watermark = s
        .watermark
        .clone()
        .unwrap_or_else(|| "none (next run is full)".into());
    outln!("scope {}", s.scope);
    outln!("  watermark:      {watermark}");
    outln!("  last success:   {}", never(&s.last_success_at));
    outln!("  last full sync: {}", never(&s.last_full_sync_at));
    if !view.runs.is_empty() {
        outln!("  last runs (newest first):");
    }
    for run in &view.runs {
        outln!("    {}", one_line(run));
    }
}

/// Sets or clears one scope's watermark under the sync lock, logged as an event.
async fn change_watermark(settings: &Settings, scope: Scope, to: Option<NaiveDateTime>) -> Exit {
    let file_lock = match settings.database.sqlite_path() {
        Some(path) => match crate::lock::try_acquire(path) {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                let path = crate::lock::lock_path(path);
                eprintln!(
                    "xtrakit-sync: a sync holds {}; nothing changed, try again when it has finished",
                    path.display()
                );
                return Exit::Database;
            }
            Err(e) => {
                eprintln!("xtrakit-sync: {e}");
                return Exit::Database;
            }
        },
        None => None,
    };
    let store = match open_existing(settings, true).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let turn = match store.lock_scope(scope, std::time::Duration::ZERO).await {
        Ok(Some(turn)) => turn,
        Ok(None) => {
            store.close().await;
            eprintln!(
                "xtrakit-sync: another process syncs scope {scope}; nothing changed, try again \
                 when its run has finished"
            );
            return Exit::Database;
        }
        Err(e) => {
            store.close().await;
            return database_error(settings, &e, true);
        }
    };
    let new = to.map(format_timestamp);
    let event = |before: Option<&str>| watermark_event(&scope, before, new.as_deref());
    let result = store.set_watermark(&scope, new.as_deref(), event).await;
    store.close().await;
    turn.release().await;
    drop(file_lock);
    match result {
        Ok(Some(before)) => {
            let was = before.unwrap_or_else(|| "none".to_owned());
            match &new {
                None => {
                    outln!("scope {scope}: watermark cleared (was {was}); its next run is full")
                }
                Some(at) => outln!("scope {scope}: watermark set to {at} (was {was})"),
            }
            Exit::Ok
        }
        Ok(None) => {
            eprintln!(
                "xtrakit-sync: scope {scope} has no state yet (it never ran); nothing changed"
            );
            Exit::Config
        }
        Err(e) => database_error(settings, &e, true),
    }
}

fn watermark_event(scope: &Scope, before: Option<&str>, after: Option<&str>) -> LogEvent {
    let was = before.unwrap_or("none");
    let (event, message) = match after {
        None => (
            "state_reset",
            format!("scope {scope}: watermark cleared by `state reset` (was {was}); the next run is full"),
        ),
        Some(at) => (
            "watermark_set",
            format!("scope {scope}: watermark set to {at} by `state set-watermark` (was {was})"),
        ),
    };
    LogEvent::new(Level::Info, event, message).with_detail(json!({
        "scope": scope.key(),
        "watermark_before": before,
        "watermark_after": after,
    }))
}
