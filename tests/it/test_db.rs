//! The tests' databases. By default a SQLite file in the test's temp dir. When
//! `XTRAKIT_TEST_POSTGRES` names a PostgreSQL server (`postgres://user@host:port`), every
//! test gets a database of its own there instead, created fresh and dropped with the test,
//! so the same tests check both backends (`.ci/run` runs the suite both ways).

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection, PgConnection};
use xtrakit_sync::store::Location;

/// The server the tests use, if any.
pub(crate) fn postgres_server() -> Option<String> {
    std::env::var("XTRAKIT_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .map(|url| url.trim_end_matches('/').to_owned())
}

/// A database for one test: the file `path`, or a new database on the server.
pub(crate) async fn create(path: &Path) -> TestDatabase {
    let Some(server) = postgres_server() else {
        return TestDatabase {
            location: Location::Sqlite(path.to_owned()),
            postgres: None,
        };
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "xks_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        fastrand::u32(..)
    );
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("the test PostgreSQL server answers (XTRAKIT_TEST_POSTGRES)");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    let _ = admin.close().await;
    let url = format!("{server}/{name}");
    TestDatabase {
        location: Location::parse(&url).expect("test database URL"),
        postgres: Some((server, name)),
    }
}

/// One test's database; a PostgreSQL one is dropped with it.
pub(crate) struct TestDatabase {
    pub(crate) location: Location,
    postgres: Option<(String, String)>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime; the drop needs one of its own.
        let shown = name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&format!("{server}/postgres"))
                    .await
                    .ok()?;
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(&drop).execute(&mut admin).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {shown}; .ci/run drops what is left");
        }
    }
}

/// A connection pool for the test's own queries, on either backend. Statements use `$1`
/// parameters, which both read.
/// `read_only` opens a SQLite file as an analyst with read access only would: such a
/// connection never changes the file, not even its journal mode.
pub(crate) async fn any_pool(location: &Location, read_only: bool) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let url = match location {
        Location::Sqlite(path) if read_only => format!("sqlite://{}?mode=ro", path.display()),
        Location::Sqlite(path) => format!("sqlite://{}", path.display()),
        Location::Postgres(_) => location.to_string(),
    };
    AnyPoolOptions::new().max_connections(1).connect(&url).await
}

/// The first column of a row as an integer, whichever backend returned it.
pub(crate) fn int(row: &AnyRow, index: usize) -> i64 {
    use sqlx::Row as _;
    row.try_get::<i64, _>(index)
        .or_else(|_| row.try_get::<i32, _>(index).map(i64::from))
        .expect("an integer column")
}
