//! The seam between the store and its two databases. Every statement of the store is
//! written once, against these types, in SQL both SQLite and PostgreSQL accept (`$1`
//! parameters, `IS NOT DISTINCT FROM`, `count(*) FILTER (…)`); what differs is which pool a
//! connection came from and the few words in [`Backend`]'s methods. A statement built for
//! one backend and run on the other's connection is a bug, reported as an error, never run.

use futures_util::TryStreamExt;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{Decode, Encode, FromRow, Row as _, Type};

/// Which database the store writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `OR FAIL` where SQLite needs it (see `sql::insert_groups`); PostgreSQL has no such
    /// clause, and its statements never journal half-done work.
    pub(super) fn or_fail(self) -> &'static str {
        match self {
            Backend::Sqlite => "OR FAIL ",
            Backend::Postgres => "",
        }
    }

    /// Parameter `k` (from 1) of a generated statement: `?` on SQLite (see
    /// `sql::values_placeholders` for why never `?k` or `$k` there), `$k` on PostgreSQL.
    pub(super) fn param(self, k: usize) -> String {
        let mut text = String::new();
        self.push_param(&mut text, k);
        text
    }

    pub(super) fn push_param(self, text: &mut String, k: usize) {
        match self {
            Backend::Sqlite => text.push('?'),
            Backend::Postgres => {
                text.push('$');
                text.push_str(&k.to_string());
            }
        }
    }
}

/// A pool of connections to one database.
#[derive(Clone, Debug)]
pub(super) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    pub(super) fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub(super) async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(p) => Conn::Sqlite(p.acquire().await?),
            Pool::Postgres(p) => Conn::Postgres(p.acquire().await?),
        })
    }

    /// A transaction that will write. SQLite takes its write lock at `BEGIN IMMEDIATE`: a
    /// deferred transaction that reads first could fail to upgrade while an analyst's write
    /// is pending, instead of waiting for it. PostgreSQL locks rows as it writes them.
    pub(super) async fn begin_write(&self) -> Result<Tx<'static>, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    pub(super) async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

/// One pooled connection.
pub(super) enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Conn {
    /// A transaction on this connection (the run's end and its watermark, together).
    pub(super) async fn begin(&mut self) -> Result<Tx<'_>, sqlx::Error> {
        use sqlx::Connection as _;
        Ok(match self {
            Conn::Sqlite(c) => Tx::Sqlite(c.begin().await?),
            Conn::Postgres(c) => Tx::Postgres(c.begin().await?),
        })
    }
}

/// A transaction; dropped without [`Tx::commit`], it rolls back.
pub(super) enum Tx<'c> {
    Sqlite(sqlx::Transaction<'c, Sqlite>),
    Postgres(sqlx::Transaction<'c, Postgres>),
}

impl Tx<'_> {
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// A connection as statements use it: pooled, or inside a transaction.
pub(super) enum Raw<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

/// What a statement can run on.
pub(super) trait Target: Send {
    fn raw(&mut self) -> Raw<'_>;

    fn backend(&mut self) -> Backend {
        match self.raw() {
            Raw::Sqlite(_) => Backend::Sqlite,
            Raw::Postgres(_) => Backend::Postgres,
        }
    }
}

impl Target for Conn {
    fn raw(&mut self) -> Raw<'_> {
        match self {
            Conn::Sqlite(c) => Raw::Sqlite(c),
            Conn::Postgres(c) => Raw::Postgres(c),
        }
    }
}

impl Target for Tx<'_> {
    fn raw(&mut self) -> Raw<'_> {
        match self {
            Tx::Sqlite(t) => Raw::Sqlite(t),
            Tx::Postgres(t) => Raw::Postgres(t),
        }
    }
}

/// A value both databases can take as a parameter.
pub(super) trait Value<'q>:
    Send + 'q + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

impl<'q, T> Value<'q> for T where
    T: Send + 'q + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

/// A value both databases can return from a column.
pub(super) trait Column:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Column for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A statement and its parameters, for one backend.
pub(super) enum Query<'q> {
    Sqlite(sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>),
    Postgres(sqlx::query::Query<'q, Postgres, PgArguments>),
    /// A value [`Query::push`] could not encode: running the statement returns the error.
    Unencodable(String),
}

/// A statement for `backend`.
pub(super) fn query(backend: Backend, sql: &str) -> Query<'_> {
    match backend {
        Backend::Sqlite => Query::Sqlite(sqlx::query(sql)),
        Backend::Postgres => Query::Postgres(sqlx::query(sql)),
    }
}

fn mismatch() -> sqlx::Error {
    sqlx::Error::Protocol("a statement was run on the other database's connection".into())
}

impl<'q> Query<'q> {
    pub(super) fn bind<T: Value<'q>>(self, value: T) -> Query<'q> {
        match self {
            Query::Sqlite(q) => Query::Sqlite(q.bind(value)),
            Query::Postgres(q) => Query::Postgres(q.bind(value)),
            unencodable @ Query::Unencodable(_) => unencodable,
        }
    }

    /// [`Query::bind`] in place. `bind` moves the whole statement for each value: 10 000 moves
    /// for a page's statement, made while SQLite's thread waits for it (a first load of a
    /// million groups, A/B: 6.96–7.03 s → 6.84–6.97 s).
    pub(super) fn push<T: Value<'q>>(&mut self, value: T) {
        let bound = match self {
            Query::Sqlite(q) => q.try_bind(value),
            Query::Postgres(q) => q.try_bind(value),
            Query::Unencodable(_) => return,
        };
        if let Err(e) = bound {
            *self = Query::Unencodable(format!("a value could not be encoded: {e}"));
        }
    }

    /// The error of a statement [`Query::push`] could not build, before it is run.
    fn encodable(self) -> Result<Query<'q>, sqlx::Error> {
        match self {
            Query::Unencodable(e) => Err(sqlx::Error::Encode(e.into())),
            q => Ok(q),
        }
    }

    /// Runs the statement; the number of rows it changed.
    pub(super) async fn execute(self, target: &mut impl Target) -> Result<u64, sqlx::Error> {
        match (self.encodable()?, target.raw()) {
            (Query::Sqlite(q), Raw::Sqlite(c)) => Ok(q.execute(c).await?.rows_affected()),
            (Query::Postgres(q), Raw::Postgres(c)) => Ok(q.execute(c).await?.rows_affected()),
            _ => Err(mismatch()),
        }
    }

    pub(super) async fn fetch_all(self, target: &mut impl Target) -> Result<Vec<Row>, sqlx::Error> {
        Ok(match (self.encodable()?, target.raw()) {
            (Query::Sqlite(q), Raw::Sqlite(c)) => {
                q.fetch_all(c).await?.into_iter().map(Row::Sqlite).collect()
            }
            (Query::Postgres(q), Raw::Postgres(c)) => q
                .fetch_all(c)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect(),
            _ => return Err(mismatch()),
        })
    }

    pub(super) async fn fetch_optional(
        self,
        target: &mut impl Target,
    ) -> Result<Option<Row>, sqlx::Error> {
        Ok(match (self.encodable()?, target.raw()) {
            (Query::Sqlite(q), Raw::Sqlite(c)) => q.fetch_optional(c).await?.map(Row::Sqlite),
            (Query::Postgres(q), Raw::Postgres(c)) => q.fetch_optional(c).await?.map(Row::Postgres),
            _ => return Err(mismatch()),
        })
    }

    pub(super) async fn fetch_one(self, target: &mut impl Target) -> Result<Row, sqlx::Error> {
        self.fetch_optional(target)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Streams the rows through `each`, so a million ids never sit in memory at once.
    pub(super) async fn for_each(
        self,
        target: &mut impl Target,
        mut each: impl FnMut(Row) -> Result<(), sqlx::Error> + Send,
    ) -> Result<(), sqlx::Error> {
        match (self.encodable()?, target.raw()) {
            (Query::Sqlite(q), Raw::Sqlite(c)) => {
                let mut rows = q.fetch(c);
                while let Some(row) = rows.try_next().await? {
                    each(Row::Sqlite(row))?;
                }
            }
            (Query::Postgres(q), Raw::Postgres(c)) => {
                let mut rows = q.fetch(c);
                while let Some(row) = rows.try_next().await? {
                    each(Row::Postgres(row))?;
                }
            }
            _ => return Err(mismatch()),
        }
        Ok(())
    }

    /// The first column of the one row.
    pub(super) async fn scalar<T: Column>(
        self,
        target: &mut impl Target,
    ) -> Result<T, sqlx::Error> {
        self.fetch_one(target).await?.get(0)
    }

    /// Every row as a `T`.
    pub(super) async fn all_as<T: Record>(
        self,
        target: &mut impl Target,
    ) -> Result<Vec<T>, sqlx::Error> {
        self.fetch_all(target).await?.iter().map(Row::to).collect()
    }
}

/// A struct read from a row by either backend (`#[derive(FromRow)]` gives both).
pub(super) trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>
{
}

impl<T> Record for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> {}

/// One result row.
pub(super) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl Row {
    pub(super) fn get<T: Column>(&self, index: usize) -> Result<T, sqlx::Error> {
        match self {
            Row::Sqlite(r) => r.try_get(index),
            Row::Postgres(r) => r.try_get(index),
        }
    }

    pub(super) fn to<T: Record>(&self) -> Result<T, sqlx::Error> {
        match self {
            Row::Sqlite(r) => T::from_row(r),
            Row::Postgres(r) => T::from_row(r),
        }
    }
}
