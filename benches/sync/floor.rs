//! The floors: the simplest loops on SQLite's C API, what this machine allows at best.
//!
//! Unsafe by design: the floor is measured on the C API itself, so this one file allows it.
#![allow(unsafe_code)]

use super::*;

/// The floors' database: the product's schema, made by its own migrations, loaded by the
/// simplest loops on SQLite's C API with the product's settings.
pub(crate) struct FloorDb {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl FloorDb {
    pub(crate) async fn new() -> FloorDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("floor.db");
        Store::open(&xtrakit_sync::store::Location::Sqlite(path.clone()))
            .await
            .expect("schema")
            .close()
            .await;
        FloorDb { _dir: dir, path }
    }
    /// The bulk-load floor: `bodies` parsed and written with their history rows, one
    /// transaction per page, one prepared `INSERT` per row, into tables without secondary
    /// indexes; the indexes are then built once and the database closed (timed too).
    pub(crate) async fn load(&self, bodies: Arc<Vec<Vec<u8>>>) -> Sample {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let db = open_floor(&path);
            for index in LOAD_INDEXES {
                db.exec(&format!("DROP INDEX {}", index.name));
            }
            let started = Instant::now();
            let records = write_floor(&db, &bodies);
            for index in LOAD_INDEXES {
                db.exec(index.create);
            }
            // Closing checkpoints the WAL into the database, as the sync's exit does.
            drop(db);
            floor_sample(records, started)
        })
        .await
        .expect("load floor")
    }

    /// The update floor: the records of `bodies` whose id is in `changed` applied as updates
    /// with their history rows, one transaction per page, indexes live.
    pub(crate) async fn update(&self, bodies: Vec<Vec<u8>>, changed: Vec<i64>) -> Sample {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let db = open_floor(&path);
            let changed: std::collections::HashSet<i64> = changed.into_iter().collect();
            let started = Instant::now();
            let records = update_floor(&db, &bodies, &changed);
            drop(db);
            floor_sample(records, started)
        })
        .await
        .expect("update floor")
    }
}

fn open_floor(path: &Path) -> Db {
    let db = Db::open(path);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    // The writer connection's settings (src/store/connect.rs).
    db.exec("PRAGMA wal_autocheckpoint = 8000");
    db.exec("PRAGMA journal_size_limit = 33554432");
    db
}

pub(crate) fn floor_sample(records: u64, started: Instant) -> Sample {
    Sample {
        records,
        wall: started.elapsed().as_secs_f64(),
        groups_written: records,
        history_written: records,
        ..Sample::default()
    }
}

pub(crate) fn groups_of(body: &[u8]) -> xtrakit_sync::api::Groups {
    let parsed = parse_body(body).expect("a JSON body");
    let Content::Groups(groups) = parsed.content else {
        panic!("a page without groups");
    };
    groups
}

pub(crate) fn write_floor(db: &Db, bodies: &[Vec<u8>]) -> u64 {
    let mut group = db.prepare(
        "INSERT INTO customer_groups (id, business_code, group_name, group_description, \
         created_at, updated_at, raw_json, first_seen_at, last_changed_at, deleted_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL)",
    );
    let mut history = history_insert(db, "insert");
    write_rows(db, bodies, |_| true, &mut group, &mut history)
}

fn update_floor(db: &Db, bodies: &[Vec<u8>], changed: &std::collections::HashSet<i64>) -> u64 {
    // The same nine values as the insert; `first_seen_at` (?8) stays as it is.
    let mut group = db.prepare(
        "UPDATE customer_groups SET business_code = ?2, group_name = ?3, \
         group_description = ?4, created_at = ?5, updated_at = ?6, raw_json = ?7, \
         last_changed_at = ?9 WHERE id = ?1",
    );
    let mut history = history_insert(db, "update");
    write_rows(
        db,
        bodies,
        |id| changed.contains(&id),
        &mut group,
        &mut history,
    )
}

/// The records of `bodies` whose id `keep` accepts, each as a `group` row and a `history`
/// row, one transaction per body.
fn write_rows(
    db: &Db,
    bodies: &[Vec<u8>],
    keep: impl Fn(i64) -> bool,
    group: &mut Stmt<'_>,
    history: &mut Stmt<'_>,
) -> u64 {
    let mut records = 0;
    for body in bodies {
        let groups = groups_of(body);
        let now = format_timestamp(now_utc());
        db.exec("BEGIN");
        for r in groups.records.iter().filter(|r| keep(r.id)) {
            let created = r.created_at.map(format_timestamp);
            let updated = r.updated_at.map(format_timestamp);
            group.run(&[
                Val::Int(r.id),
                r.business_code.map_or(Val::Null, Val::Int),
                Val::opt(r.group_name.as_deref()),
                Val::opt(r.group_description.as_deref()),
                Val::opt(created.as_deref()),
                Val::opt(updated.as_deref()),
                Val::Text(&r.raw_json),
                Val::Text(&now),
                Val::Text(&now),
            ]);
            history.run(&[
                Val::Int(r.id),
                Val::Text(&now),
                Val::opt(updated.as_deref()),
                Val::Text(&r.raw_json),
            ]);
            records += 1;
        }
        db.exec("COMMIT");
    }
    records
}

fn history_insert<'db>(db: &'db Db, change: &str) -> Stmt<'db> {
    db.prepare(&format!(
        "INSERT INTO customer_group_history \
         (group_id, sync_run_id, change, recorded_at, updated_at, raw_json) \
         VALUES (?, NULL, '{change}', ?, ?, ?)"
    ))
}

/// Every page of the listing that starts at `url`, as raw (decoded) bodies, following the
/// links as the sync does. Asking for gzip also fills the fake's cache of compressed pages,
/// so the timed sync that follows costs the fake no compression.
pub(crate) async fn fetch_bodies(url: &str) -> Vec<Vec<u8>> {
    let client = reqwest::Client::new();
    let mut bodies = Vec::new();
    let mut next = Some(url.to_owned());
    while let Some(url) = next {
        let body = client
            .get(&url)
            .bearer_auth(KEY)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("page fetched")
            .bytes()
            .await
            .expect("page body");
        next = match parse_body(&body).expect("a JSON body").next {
            NextLink::Url(link) => Some(link),
            _ => None,
        };
        bodies.push(body.to_vec());
    }
    bodies
}

// ---- a minimal wrapper of SQLite's C API, for the floor and the checks ----

pub(crate) struct Db(*mut ffi::sqlite3);

pub(crate) enum Val<'a> {
    Int(i64),
    Text(&'a str),
    Null,
}

impl<'a> Val<'a> {
    pub(crate) fn opt(text: Option<&'a str>) -> Val<'a> {
        text.map_or(Val::Null, Val::Text)
    }
}

impl Db {
    pub(crate) fn open(path: &Path) -> Db {
        let name = CString::new(path.to_str().expect("UTF-8 path")).expect("path");
        let mut db = std::ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `db` receives the handle (closed in Drop).
        let rc = unsafe {
            ffi::sqlite3_open_v2(
                name.as_ptr(),
                &mut db,
                ffi::SQLITE_OPEN_READWRITE,
                std::ptr::null(),
            )
        };
        let db = Db(db);
        db.check(rc, "open");
        // SAFETY: `db.0` is an open handle.
        unsafe { ffi::sqlite3_busy_timeout(db.0, 30_000) };
        db
    }

    pub(crate) fn check(&self, rc: c_int, what: &str) {
        if rc != ffi::SQLITE_OK && rc != ffi::SQLITE_ROW && rc != ffi::SQLITE_DONE {
            // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by the handle.
            let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.0)) };
            panic!("sqlite {what}: {rc}: {}", msg.to_string_lossy());
        }
    }

    pub(crate) fn exec(&self, sql: &str) {
        let sql = CString::new(sql).expect("sql");
        // SAFETY: open handle, NUL-terminated SQL, no callback.
        let rc = unsafe {
            ffi::sqlite3_exec(
                self.0,
                sql.as_ptr(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        self.check(rc, "exec");
    }

    pub(crate) fn prepare(&self, sql: &str) -> Stmt<'_> {
        let sql = CString::new(sql).expect("sql");
        let mut stmt = std::ptr::null_mut();
        // SAFETY: open handle, NUL-terminated SQL; `stmt` receives the statement (finalized
        // in Drop, before the handle closes since it borrows the Db).
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(self.0, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut())
        };
        self.check(rc, "prepare");
        Stmt { db: self, stmt }
    }

    pub(crate) fn count(&self, sql: &str) -> u64 {
        let mut stmt = self.prepare(sql);
        stmt.step_row();
        // SAFETY: the statement has a current row with at least one column.
        unsafe { ffi::sqlite3_column_int64(stmt.stmt, 0) as u64 }
    }

    pub(crate) fn text(&self, sql: &str) -> String {
        let mut stmt = self.prepare(sql);
        stmt.step_row();
        // SAFETY: the statement has a current row; the text stays valid until the next step,
        // and it is copied before that.
        unsafe {
            let p = ffi::sqlite3_column_text(stmt.stmt, 0);
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p.cast()).to_string_lossy().into_owned()
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // SAFETY: every statement borrowed this Db and is finalized by now.
        unsafe { ffi::sqlite3_close(self.0) };
    }
}

pub(crate) struct Stmt<'db> {
    pub(crate) db: &'db Db,
    pub(crate) stmt: *mut ffi::sqlite3_stmt,
}

impl Stmt<'_> {
    /// Binds `values`, runs the statement to completion and resets it.
    pub(crate) fn run(&mut self, values: &[Val<'_>]) {
        for (i, v) in values.iter().enumerate() {
            let i = i as c_int + 1;
            // SAFETY: a prepared statement; SQLITE_STATIC (`None`) is sound because the
            // bound text outlives the step below, and the bindings are cleared after it.
            let rc = unsafe {
                match v {
                    Val::Int(n) => ffi::sqlite3_bind_int64(self.stmt, i, *n),
                    Val::Text(t) => ffi::sqlite3_bind_text(
                        self.stmt,
                        i,
                        t.as_ptr().cast(),
                        t.len() as c_int,
                        None,
                    ),
                    Val::Null => ffi::sqlite3_bind_null(self.stmt, i),
                }
            };
            self.db.check(rc, "bind");
        }
        // SAFETY: a prepared statement with every parameter bound.
        let rc = unsafe { ffi::sqlite3_step(self.stmt) };
        self.db.check(rc, "step");
        // SAFETY: as above.
        unsafe {
            ffi::sqlite3_reset(self.stmt);
            ffi::sqlite3_clear_bindings(self.stmt);
        }
    }

    pub(crate) fn step_row(&mut self) {
        // SAFETY: a prepared statement.
        let rc = unsafe { ffi::sqlite3_step(self.stmt) };
        assert_eq!(rc, ffi::SQLITE_ROW, "a query returns one row");
    }
}

impl Drop for Stmt<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement was prepared on this Db and is finalized once.
        unsafe { ffi::sqlite3_finalize(self.stmt) };
    }
}

// ---- the report ----
