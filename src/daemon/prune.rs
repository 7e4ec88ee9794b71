//! Retention in the daemon: after a tick's runs, at most once an hour, rows older than
//! `retention_days` (and history older than `history_retention_days`, when set) are pruned.
//! A prune that deleted something is one journal line and one `prune` event.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::Settings;
use crate::domain::{format_timestamp, now_utc};
use crate::store::{Level, LogEvent, PruneBefore, Pruned, Store};

/// The least time between two prunes: a prune that found nothing still reads the tables.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub(super) struct Retention {
    days: u32,
    history_days: Option<u32>,
    /// When the last prune started; `None` before the first, which follows the first tick.
    last: Mutex<Option<Instant>>,
}

impl Retention {
    pub(super) fn new(settings: &Settings) -> Retention {
        Retention {
            days: settings.retention_days,
            history_days: settings.history_retention_days,
            last: Mutex::new(None),
        }
    }

    /// Prunes if the last prune is an hour old; a failure is logged and tried again after
    /// the next tick.
    pub(super) async fn after_tick(&self, store: &Store) {
        if !self.claim() {
            return;
        }
        let now = now_utc();
        let before = PruneBefore {
            log: days_before(now, self.days),
            history: self.history_days.map(|days| days_before(now, days)),
        };
        match store.prune(before).await {
            Ok(pruned) if pruned.total() == 0 => {}
            Ok(pruned) => self.report(store, &pruned, before).await,
            Err(e) => {
                warn!("pruning old rows failed: {e}; tried again after the next tick");
                *self.last.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
        }
    }

    /// Whether a prune is due; if so, it is marked as started now.
    fn claim(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < PRUNE_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    async fn report(&self, store: &Store, pruned: &Pruned, before: PruneBefore) {
        let history = match (self.history_days, before.history) {
            (Some(days), Some(_)) => {
                format!("{} history rows older than {days} days", pruned.history)
            }
            _ => "no history (history_retention_days is not set)".to_owned(),
        };
        let message = format!(
            "pruned {} sync_log events and {} sync_runs rows older than {} days (before {}), \
             and {history}; customer_groups untouched",
            pruned.sync_log,
            pruned.sync_runs,
            self.days,
            format_timestamp(before.log),
        );
        info!("{message}");
        let mut event = LogEvent::new(Level::Info, "prune", message);
        event.detail = Some(
            serde_json::json!({
                "sync_log": pruned.sync_log,
                "sync_runs": pruned.sync_runs,
                "history": pruned.history,
                "retention_days": self.days,
                "history_retention_days": self.history_days,
            })
            .to_string(),
        );
        if let Err(e) = store.log_events(None, event.at, &[event]).await {
            warn!("could not log the prune in the database ({e}); logged here only");
        }
    }
}

fn days_before(now: NaiveDateTime, days: u32) -> NaiveDateTime {
    now.checked_sub_signed(TimeDelta::days(i64::from(days)))
        .unwrap_or(NaiveDateTime::MIN)
}
