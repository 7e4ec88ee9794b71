//! The run log: `sync_runs`, `sync_log` and `sync_state`.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use sqlx::FromRow;
use tracing::instrument;

use super::backend::{query, Target};
use super::{sql, Store, StoreError};
use crate::domain::{format_timestamp, now_utc, Mode, RunStatus, Scope, Trigger, Watermark};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// One row of `sync_log`.
#[derive(Clone, Debug)]
pub struct LogEvent {
    /// When the event happened (`sync_log.at`): set where the event is created, so events
    /// written later in one batch (retries at the end of a page) keep their own times.
    pub at: NaiveDateTime,
    pub level: Level,
    pub event: &'static str,
    pub http_status: Option<u16>,
    pub message: String,
    /// JSON text; never the key.
    pub detail: Option<String>,
    /// Written only if `sync_log` holds no row of the same event with the same detail: the
    /// same flawed record sent run after run is logged once (the runs still count it).
    pub once: bool,
}

impl LogEvent {
    /// An event that happens now.
    pub fn new(level: Level, event: &'static str, message: impl Into<String>) -> LogEvent {
        LogEvent {
            at: now_utc(),
            level,
            event,
            http_status: None,
            message: message.into(),
            detail: None,
            once: false,
        }
    }

    /// See [`LogEvent::once`](struct.LogEvent.html#structfield.once).
    pub fn logged_once(mut self) -> LogEvent {
        self.once = true;
        self
    }

    /// The event happened at `at`, earlier than it is built (a retry noted by the client).
    pub fn happened_at(mut self, at: NaiveDateTime) -> LogEvent {
        self.at = at;
        self
    }

    pub fn with_status(mut self, status: Option<u16>) -> LogEvent {
        self.http_status = status;
        self
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> LogEvent {
        self.detail = Some(detail.to_string());
        self
    }
}

/// What a run row says when it opens.
#[derive(Clone, Debug)]
pub struct RunStart {
    pub scope: Scope,
    pub trigger: Trigger,
    pub mode: Mode,
    pub started_at: NaiveDateTime,
    pub watermark_before: Option<Watermark>,
}

/// What a run row says when it closes. The counters were added page by page.
#[derive(Clone, Debug)]
pub struct RunEnd {
    pub status: RunStatus,
    pub finished_at: NaiveDateTime,
    pub duration_ms: i64,
    pub watermark_after: Option<Watermark>,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub full: bool,
}

/// A scope's row of `sync_state`.
#[derive(Clone, Debug, Default, FromRow)]
pub struct ScopeState {
    pub watermark: Option<String>,
}

impl ScopeState {
    pub fn watermark(&self) -> Option<Watermark> {
        self.watermark.as_deref().and_then(Watermark::parse)
    }
}

impl Store {
    #[instrument(skip_all, fields(scope = %scope))]
    pub async fn load_state(&self, scope: &Scope) -> Result<ScopeState, StoreError> {
        let mut conn = self.writer().acquire().await?;
        let row = query(
            conn.backend(),
            "SELECT watermark FROM sync_state WHERE scope = $1",
        )
        .bind(scope.key())
        .fetch_optional(&mut conn)
        .await?;
        Ok(match row {
            Some(row) => row.to()?,
            None => ScopeState::default(),
        })
    }

    /// Whether a full run of the scope that started at or after `since` succeeded.
    #[instrument(skip_all, fields(scope = %scope))]
    pub async fn full_succeeded_since(
        &self,
        scope: Scope,
        since: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer().acquire().await?;
        let found: bool = query(
            conn.backend(),
            "SELECT EXISTS (SELECT 1 FROM sync_runs \
             WHERE business_code IS NOT DISTINCT FROM $1 \
             AND mode = 'full' AND status = 'success' AND started_at >= $2)",
        )
        .bind(scope.business_code())
        .bind(format_timestamp(since))
        .scalar(&mut conn)
        .await?;
        Ok(found)
    }

    /// Runs still `running` were left by a dead process: only ever called while holding the
    /// sync lock that covers them (the database's, or on PostgreSQL the scope's), so a live
    /// sync in another process is never touched. `None`: every scope's.
    #[instrument(skip_all)]
    pub async fn recover_interrupted(
        &self,
        now: NaiveDateTime,
        scope: Option<Scope>,
    ) -> Result<u64, StoreError> {
        let mut conn = self.writer().acquire().await?;
        let done = query(
            conn.backend(),
            "UPDATE sync_runs SET status = 'interrupted', finished_at = $1, \
             error = coalesce(error, 'the process running this sync died; found by the next sync') \
             WHERE status = 'running' \
             AND ($2 OR business_code IS NOT DISTINCT FROM $3)",
        )
        .bind(format_timestamp(now))
        .bind(scope.is_none())
        .bind(scope.and_then(|s| s.business_code()))
        .execute(&mut conn)
        .await?;
        Ok(done)
    }

    #[instrument(skip_all, fields(scope = %start.scope))]
    pub async fn start_run(&self, start: &RunStart) -> Result<i64, StoreError> {
        let mut conn = self.writer().acquire().await?;
        let id: i64 = query(
            conn.backend(),
            "INSERT INTO sync_runs (started_at, trigger, mode, business_code, status, \
             watermark_before) VALUES ($1, $2, $3, $4, 'running', $5) RETURNING id",
        )
        .bind(format_timestamp(start.started_at))
        .bind(start.trigger)
        .bind(start.mode)
        .bind(start.scope.business_code())
        .bind(start.watermark_before.map(|w| w.to_string()))
        .scalar(&mut conn)
        .await?;
        Ok(id)
    }

    /// Closes the run and, on success, moves the scope's watermark in the same transaction:
    /// a watermark never runs ahead of a finished run. While the process is stopping this
    /// goes through the side connection with a bounded wait; otherwise an end that cannot be
    /// written is kept and written by the next sync, before crash recovery could relabel it.
    #[instrument(skip_all, fields(run_id))]
    pub async fn finish_run(
        &self,
        run_id: i64,
        scope: &Scope,
        end: &RunEnd,
    ) -> Result<(), StoreError> {
        if self.stopping() {
            return self
                .on_side(|mut conn| async move { write_end(&mut conn, run_id, scope, end).await })
                .await;
        }
        let written = async {
            let mut conn = self.writer().acquire().await?;
            write_end(&mut conn, run_id, scope, end).await
        }
        .await;
        if written.is_err() {
            self.keep_unfinished(run_id, *scope, end.clone());
        }
        written
    }

    /// Logs events outside a page transaction (retries, failures, warnings at run end);
    /// bounded while the process is stopping. Each row takes its event's own time, so
    /// `_written_at` is not used (kept while callers pass it).
    #[instrument(skip_all)]
    pub async fn log_events(
        &self,
        run_id: Option<i64>,
        _written_at: NaiveDateTime,
        events: &[LogEvent],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        if self.stopping() {
            return self.log_side_events(run_id, _written_at, events).await;
        }
        let mut conn = self.writer().acquire().await?;
        insert_events(&mut conn, run_id, _written_at, events).await
    }
}

/// Writes a run's end, unless the run is no longer `running` (crash recovery by another
/// process got there first: its label stays, and the watermark does not move).
pub(super) async fn write_end(
    conn: &mut super::backend::Conn,
    run_id: i64,
    scope: &Scope,
    end: &RunEnd,
) -> Result<(), StoreError> {
    let backend = conn.backend();
    let mut tx = conn.begin().await?;
    let finished = format_timestamp(end.finished_at);
    let updated = query(
        backend,
        "UPDATE sync_runs SET status = $1, finished_at = $2, duration_ms = $3, \
         watermark_after = $4, http_status = $5, error = $6 \
         WHERE id = $7 AND status = 'running'",
    )
    .bind(end.status)
    .bind(&finished)
    .bind(end.duration_ms)
    .bind(end.watermark_after.map(|w| w.to_string()))
    .bind(end.http_status.map(i32::from))
    .bind(end.error.as_deref())
    .bind(run_id)
    .execute(&mut tx)
    .await?;
    if end.status == RunStatus::Success && updated == 1 {
        query(
            backend,
            "INSERT INTO sync_state (scope, business_code, watermark, last_success_at, \
             last_full_sync_at) VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN $4 END) \
             ON CONFLICT (scope) DO UPDATE SET watermark = excluded.watermark, \
             last_success_at = excluded.last_success_at, \
             last_full_sync_at = \
                coalesce(excluded.last_full_sync_at, sync_state.last_full_sync_at)",
        )
        .bind(scope.key())
        .bind(scope.business_code())
        .bind(end.watermark_after.map(|w| w.to_string()))
        .bind(&finished)
        .bind(end.full)
        .execute(&mut tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Writes events in multi-row statements, so a page full of rejected records stays cheap.
/// Each row's `at` is its event's time; `_written_at` is kept for the callers' sake.
pub(super) async fn insert_events(
    conn: &mut impl Target,
    run_id: Option<i64>,
    _written_at: NaiveDateTime,
    events: &[LogEvent],
) -> Result<(), StoreError> {
    let mut logged = already_logged(conn, events).await?;
    let fresh: Vec<&LogEvent> = events
        .iter()
        .filter(|e| match (&e.detail, e.once) {
            (Some(detail), true) => logged.insert(detail.clone()),
            _ => true,
        })
        .collect();
    let backend = conn.backend();
    for chunk in fresh.chunks(sql::EVENTS_PER_STATEMENT) {
        let text = sql::insert_log(backend, chunk.len());
        let mut q = query(backend, &text);
        for e in chunk {
            q = q
                .bind(run_id)
                .bind(format_timestamp(e.at))
                .bind(e.level)
                .bind(e.event)
                .bind(e.http_status.map(i32::from))
                .bind(e.message.as_str())
                .bind(e.detail.as_deref());
        }
        q.execute(conn).await?;
    }
    Ok(())
}

/// The details, among the `once` events given, that `sync_log` already holds for their event.
async fn already_logged(
    conn: &mut impl Target,
    events: &[LogEvent],
) -> Result<HashSet<String>, StoreError> {
    let backend = conn.backend();
    let mut found = HashSet::new();
    let once: Vec<&LogEvent> = events.iter().filter(|e| e.once).collect();
    for chunk in once.chunks(sql::EVENTS_PER_STATEMENT) {
        let text = sql::logged_details(backend, chunk.len());
        let mut q = query(backend, &text);
        for e in chunk {
            q = q.bind(e.event).bind(e.detail.as_deref());
        }
        for row in q.fetch_all(conn).await? {
            found.insert(row.get(0)?);
        }
    }
    Ok(found)
}
