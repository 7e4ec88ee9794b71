//! Database path problems in the user's words. SQLite says "(code: 14) unable to open
//! database file" for a missing directory, a permission problem and more alike; the path
//! itself tells which, so it is looked at before (and after) SQLite is asked.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::store::{Location, StoreError};

/// How to point elsewhere, said once per message.
const POINT_ELSEWHERE: &str = "point --db / XTRAKIT_DB / database at another file";

/// What is wrong with `path` that SQLite would fail on, if the file system shows it.
/// `write` is whether the command creates or writes the database (not `status`).
pub fn diagnose(path: &Path, write: bool) -> Option<String> {
    let shown = path.display();
    let dir = parent_dir(path);
    match std::fs::metadata(&dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Some(format!(
                "database {shown}: directory {} does not exist; create it (mkdir -p {}) or {POINT_ELSEWHERE}",
                dir.display(),
                dir.display()
            ))
        }
        Ok(meta) if !meta.is_dir() => {
            return Some(format!(
                "database {shown}: {} is not a directory; {POINT_ELSEWHERE}",
                dir.display()
            ))
        }
        _ => {}
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Some(format!(
            "database {shown} is a directory, not a database file; {POINT_ELSEWHERE}"
        )),
        Ok(_) => {
            let opened = std::fs::OpenOptions::new()
                .read(true)
                .write(write)
                .open(path);
            match opened {
                Err(e) if e.kind() == ErrorKind::PermissionDenied => Some(format!(
                    "database {shown}: permission denied ({} access); run as the user that owns it, or fix its permissions",
                    if write { "read and write" } else { "read" }
                )),
                _ => None,
            }
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => Some(format!(
            "database {shown}: permission denied on directory {}; run as a user that may enter it",
            dir.display()
        )),
        Err(_) => None,
    }
}

/// [`diagnose`] for a SQLite database; a PostgreSQL server's problems are for the server
/// to say.
pub fn diagnose_location(location: &Location, write: bool) -> Option<String> {
    location
        .sqlite_path()
        .and_then(|path| diagnose(path, write))
}

/// The one line for a store error: the diagnosis when the path explains it, else a
/// database that is not SQLite named as such, else the database's own words.
pub fn explain(location: &Location, error: &StoreError, write: bool) -> String {
    let Some(path) = location.sqlite_path() else {
        return explain_postgres(error);
    };
    if let Some(diagnosis) = diagnose(path, write) {
        return diagnosis;
    }
    let text = error.to_string();
    if text.contains("file is not a database") || text.contains("(code: 26)") {
        return format!(
            "database {} is not an SQLite database (another file at that path?); move it away or {POINT_ELSEWHERE}",
            path.display()
        );
    }
    if write && !path.exists() && text.contains("(code: 14)") {
        return format!(
            "database {}: cannot create the file in {} (no permission to write there?); {POINT_ELSEWHERE}",
            path.display(),
            parent_dir(path).display()
        );
    }
    text
}

/// PostgreSQL's words, with what to check when the server was not reached or refused us.
fn explain_postgres(error: &StoreError) -> String {
    let text = error.to_string();
    let hint = if text.contains("password authentication failed") || text.contains("no password") {
        "; give the password in PGPASSWORD or a PGPASSFILE file"
    } else if text.contains("Connection refused") || text.contains("error connecting") {
        "; is the server running, and are host and port in the URL right?"
    } else if text.contains("does not exist") {
        "; create the database (createdb) or name another one in the URL"
    } else {
        ""
    };
    format!("{text}{hint}")
}

/// The directory the database file lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/x.db");
        let text = diagnose(&path, true).unwrap();
        assert!(text.contains("does not exist"), "{text}");
        assert!(
            text.contains(&dir.path().join("no/such").display().to_string()),
            "{text}"
        );
    }

    #[test]
    fn a_directory_in_place_of_the_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = diagnose(dir.path(), false).unwrap();
        assert!(
            text.contains("is a directory, not a database file"),
            "{text}"
        );
    }

    #[test]
    fn a_usable_path_has_no_diagnosis() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(diagnose(&dir.path().join("new.db"), true), None);
        assert_eq!(diagnose(Path::new("bare.db"), true), None);
    }
}
