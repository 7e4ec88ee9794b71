//! Where the database is: a SQLite file (the default), or a PostgreSQL server named by a
//! `postgres://` URL. Parsed when the configuration loads, so a URL carrying a password is
//! refused before anything could print it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

/// The `database` setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

/// A `postgres://user@host:port/dbname` URL without a password: the password comes from
/// `PGPASSWORD` or the `PGPASSFILE` file (libpq's own conventions), never from the URL, so
/// every place that shows the URL (logs, `check-config`, `status`) shows all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresUrl(String);

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error(
        "the database URL carries a password; remove it from the URL and give it in the \
         PGPASSWORD environment variable or a PGPASSFILE file instead"
    )]
    PasswordInUrl,
    #[error("the database URL is not a valid PostgreSQL URL: {0}")]
    BadUrl(String),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL selects PostgreSQL; anything else is a path.
    pub fn parse(text: &str) -> Result<Location, LocationError> {
        let is_url = ["postgres://", "postgresql://"]
            .iter()
            .any(|scheme| text.starts_with(scheme));
        if !is_url {
            return Ok(Location::Sqlite(PathBuf::from(text)));
        }
        if has_password(text) {
            return Err(LocationError::PasswordInUrl);
        }
        PgConnectOptions::from_str(text).map_err(|e| LocationError::BadUrl(e.to_string()))?;
        Ok(Location::Postgres(PostgresUrl(text.to_owned())))
    }

    /// The SQLite file, if the database is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&url.0),
        }
    }
}

impl PostgresUrl {
    /// Connection options: the URL's parts, then the password from the environment or the
    /// password file, as `psql` would find it.
    pub(super) fn options(&self) -> Result<PgConnectOptions, sqlx::Error> {
        // The server's notices ("relation … already exists, skipping" while migrating) are
        // not for the daemon's log; warnings and errors still reach it.
        Ok(PgConnectOptions::from_str(&self.0)?
            .application_name("xtrakit-sync")
            .options([("client_min_messages", "warning")]))
    }
}

/// Whether the URL carries a password: `user:password@` in its authority, or a
/// `password=` parameter (which sqlx reads too).
fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let in_authority = match authority.rsplit_once('@') {
        Some((userinfo, _)) => userinfo.contains(':'),
        None => false,
    };
    let in_query = rest.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            pair.split('=')
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("password"))
        })
    });
    in_authority || in_query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_selects_postgres_and_anything_else_is_a_path() {
        let pg = Location::parse("postgres://sync@db.internal:5433/analytics").unwrap();
        assert!(matches!(pg, Location::Postgres(_)));
        assert_eq!(pg.to_string(), "postgres://sync@db.internal:5433/analytics");
        let pg = Location::parse("postgresql://localhost/x?sslmode=require").unwrap();
        assert!(matches!(pg, Location::Postgres(_)));
        let file = Location::parse("/var/lib/xtrakit-sync/xtrakit.db").unwrap();
        assert_eq!(
            file.sqlite_path(),
            Some(Path::new("/var/lib/xtrakit-sync/xtrakit.db"))
        );
        assert_eq!(
            Location::parse("postgres.db").unwrap().sqlite_path(),
            Some(Path::new("postgres.db"))
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_being_repeated() {
        for url in [
            "postgres://sync:s3cret@db/analytics",
            "postgresql://sync:s3cret@db:5432/analytics?sslmode=require",
            "postgres://sync@db/analytics?sslmode=require&password=s3cret",
        ] {
            let err = Location::parse(url).unwrap_err().to_string();
            assert!(err.contains("PGPASSWORD"), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
        assert!(Location::parse("postgres://sync@db/analytics?options=a:b").is_ok());
    }
}
