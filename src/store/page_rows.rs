//! The rows a page writes, once the page writer has decided what changed: new groups,
//! overwritten groups and their history rows, each backend its fastest way inside the page's
//! transaction. SQLite gets multi-row statements, each built while SQLite runs the one
//! before it; PostgreSQL gets its new rows by `COPY` and its overwrites by statement.

use std::future::Future;

use futures_util::future::join;
use tokio::sync::oneshot;

use super::backend::{query, Backend, Conn, Pool, Query, Target, Tx};
use super::copy::CopyRows;
use super::groups::Write;
use super::parked::Ended;
use super::sql::{self, Frame, PageText};
use super::StoreError;
use crate::domain::Scope;

/// What one page writes besides its events and counters.
pub(super) struct PageRows<'a> {
    pub(super) inserts: &'a [&'a Write<'a>],
    pub(super) overwrites: &'a [&'a Write<'a>],
    /// Empty when history is off.
    pub(super) history: &'a [Write<'a>],
    pub(super) scope: Scope,
    pub(super) run_id: i64,
    pub(super) now: &'a str,
}

impl PageRows<'_> {
    pub(super) async fn write(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        if let Tx::Postgres(pg) = &mut *tx {
            copy_groups(pg, self.inserts, self.scope, self.now).await?;
            copy_history(pg, self.history, self.run_id, self.now).await?;
            let overwrites = group_statements(
                Backend::Postgres,
                self.overwrites,
                PageText::UpdateGroups,
                self.scope,
                self.now,
            );
            return execute_overlapped(tx, overwrites).await;
        }
        execute_overlapped(tx, self.sqlite_statements(None)).await
    }

    /// Like [`PageRows::write`], on a transaction that `begin` is still starting on another
    /// task. On SQLite the first statement (1 000 rows to bind) is built meanwhile, so
    /// SQLite's thread does not wait for it once the transaction is open.
    pub(super) async fn write_once_begun(
        &self,
        backend: Backend,
        begin: impl Future<Output = Result<Tx<'static>, StoreError>>,
    ) -> Result<Tx<'static>, StoreError> {
        if backend == Backend::Postgres {
            let mut tx = begin.await?;
            self.write(&mut tx).await?;
            return Ok(tx);
        }
        let mut statements = self.sqlite_statements(None);
        let first = statements.next();
        let mut tx = begin.await?;
        execute_overlapped(&mut tx, first.into_iter().chain(statements)).await?;
        Ok(tx)
    }

    /// SQLite: the page's whole transaction as statements, with `BEGIN IMMEDIATE` folded into
    /// the first and the run's `counters` (see `sql::add_to_run`) and `COMMIT` into the last.
    /// A first load's page is then two round trips to SQLite's thread instead of five, each
    /// of which it spent waiting (~0.4 s of a million groups).
    pub(super) fn framed(&self, counters: [i64; 7]) -> Framed {
        let statements: Vec<Query<'static>> = self.sqlite_statements(Some(counters)).collect();
        let groups = sql::statement_sizes(self.inserts.len(), sql::ROWS_PER_STATEMENT).count()
            + sql::statement_sizes(self.overwrites.len(), sql::ROWS_PER_STATEMENT).count();
        Framed { statements, groups }
    }

    /// SQLite's statements, in order: new groups, overwritten groups, then their history
    /// rows, which copy the groups as now stored. With `counters`, they are the page's whole
    /// transaction (see [`PageRows::framed`]).
    fn sqlite_statements(
        &self,
        counters: Option<[i64; 7]>,
    ) -> impl Iterator<Item = Query<'static>> + '_ {
        let mut pieces = Vec::new();
        for (kind, total) in [
            (PageText::InsertGroups, self.inserts.len()),
            (PageText::UpdateGroups, self.overwrites.len()),
            (PageText::History, self.history.len()),
        ] {
            let mut start = 0;
            for size in sql::statement_sizes(total, sql::ROWS_PER_STATEMENT) {
                pieces.push((kind, start..start + size));
                start += size;
            }
        }
        let count = pieces.len();
        pieces
            .into_iter()
            .enumerate()
            .map(move |(i, (kind, rows))| {
                let frame = match counters {
                    Some(_) => Frame::of(i, count),
                    None => Frame::Inner,
                };
                let text = sql::framed_text(kind, Backend::Sqlite, rows.len(), frame);
                let q = query(Backend::Sqlite, text);
                let mut q = match kind {
                    PageText::InsertGroups => {
                        bind_groups(q, &self.inserts[rows], self.scope, self.now)
                    }
                    PageText::UpdateGroups => {
                        bind_groups(q, &self.overwrites[rows], self.scope, self.now)
                    }
                    PageText::History => {
                        bind_history(q, &self.history[rows], self.run_id, self.now)
                    }
                };
                if let (true, Some(counters)) = (frame.ends(), counters) {
                    for value in counters {
                        q = q.bind(value);
                    }
                }
                q
            })
    }
}

/// Runs `statements` in order, building each while the database runs the one before it.
/// sqlx binds on the caller's thread, and SQLite's worker thread would otherwise wait while
/// each is built (in a first load of a million groups it waited ~3 s of 9.2 s, mostly for
/// this). The values are owned, so sqlx copies nothing more once a statement is sent.
async fn execute_overlapped(
    target: &mut impl Target,
    mut statements: impl Iterator<Item = Query<'static>>,
) -> Result<(), StoreError> {
    let mut next = statements.next();
    while let Some(current) = next {
        // `join` polls the execution first: the statement is on its way before the next is
        // built.
        let (done, built) = join(current.execute(target), async { statements.next() }).await;
        done?;
        next = built;
    }
    Ok(())
}

/// A page's transaction (see [`PageRows::framed`]), run by a task of its own.
pub(super) struct Framed {
    statements: Vec<Query<'static>>,
    /// How many of the statements, from the first, write groups: what can fail for a reason
    /// the page's write must see (an id another scope holds), so it waits for them.
    groups: usize,
}

/// Runs `framed` on the connection the last page kept, or else one taken from `writer`, and
/// tells `rows_in` once the groups are in (or the transaction failed); the history rows and
/// `COMMIT` run on after that.
///
/// This runs on a task of its own. sqlx does not know of a transaction begun by a statement's
/// text, so were it dropped between BEGIN and COMMIT (a signal stopping the run), nothing
/// would roll it back: the connection would go back to the pool holding the write lock, and
/// the run could not even be marked interrupted. The task ends committed or rolled back,
/// whatever becomes of the page's write. A failure rolls back whatever part ran; should the
/// rollback fail too, the pool sees the open transaction and replaces the connection
/// (`connect.rs`).
pub(super) async fn run_framed(
    kept: Option<Conn>,
    writer: Pool,
    framed: Framed,
    rows_in: oneshot::Sender<Result<(), StoreError>>,
) -> Ended {
    let mut conn = match kept {
        Some(conn) => conn,
        None => match writer.acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                let _ = rows_in.send(Err(e.into()));
                return Ended::Reported;
            }
        },
    };
    let mut statements = framed.statements.into_iter();
    let groups: Vec<Query<'static>> = statements.by_ref().take(framed.groups).collect();
    let rest: Vec<Query<'static>> = statements.collect();
    if let Err(e) = execute_overlapped(&mut conn, groups.into_iter()).await {
        roll_back(&mut conn).await;
        let _ = rows_in.send(Err(e));
        return Ended::Reported;
    }
    // Without history rows, `rest` is empty and the groups' last statement committed.
    let _ = rows_in.send(Ok(()));
    match execute_overlapped(&mut conn, rest.into_iter()).await {
        Ok(()) => Ended::Committed(conn),
        Err(e) => {
            roll_back(&mut conn).await;
            Ended::Failed(e)
        }
    }
}

/// "No transaction is active" when SQLite rolled back itself (SQLITE_FULL) or the failure
/// came before BEGIN: nothing is left to undo either way.
async fn roll_back(conn: &mut Conn) {
    let _ = query(Backend::Sqlite, "ROLLBACK").execute(conn).await;
}

/// The statements that write `rows` to `customer_groups` (`kind`: inserts or overwrites),
/// each made when asked for.
fn group_statements<'a>(
    backend: Backend,
    rows: &'a [&'a Write<'a>],
    kind: PageText,
    scope: Scope,
    now: &'a str,
) -> impl Iterator<Item = Query<'static>> + 'a {
    let mut rest = rows;
    sql::statement_sizes(rows.len(), sql::ROWS_PER_STATEMENT).map(move |size| {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        bind_groups(
            query(backend, sql::page_text(kind, backend, size)),
            chunk,
            scope,
            now,
        )
    })
}

/// Binds the group rows of `chunk`, ten values each, as `sql::insert_groups` lays them out.
fn bind_groups(mut q: Query<'static>, chunk: &[&Write], scope: Scope, now: &str) -> Query<'static> {
    for w in chunk {
        let r = w.record;
        q.push(r.id);
        q.push(r.business_code.or(scope.business_code()));
        q.push(r.group_name.clone());
        q.push(r.group_description.clone());
        q.push(w.created_at.clone());
        q.push(w.updated_at.clone());
        q.push(r.raw_json.clone());
        q.push(now.to_owned());
        q.push(now.to_owned());
        q.push(None::<String>);
    }
    q
}

/// Binds a history statement's values (see `sql::history_from_groups`): the run, the time,
/// then `(id, change)` for each of `chunk`, whose groups the page has just written.
fn bind_history(mut q: Query<'static>, chunk: &[Write], run_id: i64, now: &str) -> Query<'static> {
    q.push(run_id);
    q.push(now.to_owned());
    for w in chunk {
        q.push(w.record.id);
        q.push(w.change);
    }
    q
}

/// PostgreSQL: the new groups in one `COPY`, laid out as [`group_statements`] binds them.
async fn copy_groups(
    conn: &mut sqlx::PgConnection,
    rows: &[&Write<'_>],
    scope: Scope,
    now: &str,
) -> Result<(), StoreError> {
    let mut copy = CopyRows::new();
    for w in rows {
        let r = w.record;
        copy.int(Some(r.id))
            .int(r.business_code.or(scope.business_code()))
            .text(r.group_name.as_deref())
            .text(r.group_description.as_deref())
            .text(w.created_at.as_deref())
            .text(w.updated_at.as_deref())
            .text(Some(r.raw_json.as_str()))
            .text(Some(now))
            .text(Some(now))
            .text(None);
        copy.end_row();
    }
    copy.send(conn, &sql::copy_groups()).await?;
    Ok(())
}

/// PostgreSQL: the page's history rows in one `COPY`.
async fn copy_history(
    conn: &mut sqlx::PgConnection,
    writes: &[Write<'_>],
    run_id: i64,
    now: &str,
) -> Result<(), StoreError> {
    let mut copy = CopyRows::new();
    for w in writes {
        copy.int(Some(w.record.id))
            .int(Some(run_id))
            .text(Some(w.change.as_str()))
            .text(Some(now))
            .text(w.updated_at.as_deref())
            .text(Some(w.record.raw_json.as_str()));
        copy.end_row();
    }
    copy.send(conn, &sql::copy_history()).await?;
    Ok(())
}
