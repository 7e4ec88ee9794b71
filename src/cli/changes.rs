//! `changes --run N`: what one run did to the groups, from `customer_group_history`:
//! each inserted, updated, deleted and restored group, as a table or JSON.

use super::output::{out, outln};
use serde::Serialize;

use super::status::{database_error, open_existing};
use crate::config::Settings;
use crate::outcome::Exit;
use crate::store::{Change, RecentRun};

#[derive(Serialize)]
struct RunChanges<'a> {
    run: &'a RecentRun,
    changes: &'a [Change],
}

pub(super) async fn show(settings: &Settings, run_id: i64, json: bool) -> Exit {
    let store = match open_existing(settings, false).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let found = match store.run(run_id).await {
        Ok(found) => found,
        Err(e) => return database_error(settings, &e, false),
    };
    let Some(run) = found else {
        store.close().await;
        eprintln!(
            "xtrakit-sync: no run {run_id} in {} (status lists the runs)",
            settings.database
        );
        return Exit::Config;
    };
    let changes = match store.changes_of_run(run_id).await {
        Ok(changes) => changes,
        Err(e) => return database_error(settings, &e, false),
    };
    store.close().await;
    if json {
        return match serde_json::to_string_pretty(&RunChanges {
            run: &run,
            changes: &changes,
        }) {
            Ok(text) => {
                outln!("{text}");
                Exit::Ok
            }
            Err(e) => {
                eprintln!("xtrakit-sync: cannot encode the changes: {e}");
                Exit::Database
            }
        };
    }
    out!("{}", render(&run, &changes));
    Exit::Ok
}

fn render(run: &RecentRun, changes: &[Change]) -> String {
    let scope = run
        .business_code
        .map_or_else(|| "all".to_owned(), |c| format!("business_code={c}"));
    let mut out = format!(
        "run #{} {scope} {} {} {} started {}: {} inserted, {} updated, {} deleted, {} restored\n",
        run.id,
        run.trigger,
        run.mode,
        run.status,
        run.started_at,
        run.inserted,
        run.updated,
        run.deleted,
        run.restored
    );
    if changes.is_empty() {
        out.push_str("no changes recorded for this run (with history = false none are kept)\n");
        return out;
    }
    out.push_str(&format!(
        "{:<8} {:>10}  {:<19}  {}\n",
        "change", "group_id", "updated_at", "group_name"
    ));
    for c in changes {
        out.push_str(&format!(
            "{:<8} {:>10}  {:<19}  {}\n",
            c.change,
            c.group_id,
            c.updated_at.as_deref().unwrap_or("-"),
            crate::config::escape_controls(c.group_name.as_deref().unwrap_or("-"))
        ));
    }
    out
}
