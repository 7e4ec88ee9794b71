//! The `floor` scenario: the simplest loop on SQLite's C API, the ceiling of this machine.
//!
//! Unsafe by design: the floor is measured on the C API itself, so this one file allows it.
#![allow(unsafe_code)]

use super::*;

/// The SQLite ceiling: N records, already in memory as the API's response bodies, parsed and
/// written with their history rows by the simplest loop.
pub(crate) async fn floor(n: usize) -> Sample {
    let fake = start_fake(n).await;
    let bodies = fetch_bodies(&fake, n).await;
    fake.shutdown();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("floor.db");
    // The product's schema, by its own migrations; then the product's settings.
    Store::open(&path).await.expect("schema").close().await;
    tokio::task::spawn_blocking(move || {
        let db = Db::open(&path);
        db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = NORMAL");
        db.exec("PRAGMA foreign_keys = ON");
        // What the sync's page writer sets on its connection (`WRITER_PRAGMAS` in
        // src/store/groups.rs): the floor measures SQLite under the same settings.
        db.exec("PRAGMA wal_autocheckpoint = 8000");
        db.exec("PRAGMA journal_size_limit = 33554432");
        let started = Instant::now();
        let records = write_floor(&db, &bodies);
        let wall = started.elapsed().as_secs_f64();
        drop(db);
        drop(dir);
        Sample {
            records,
            wall,
            rss_kib: None,
            groups_written: records,
            history_written: records,
        }
    })
    .await
    .expect("floor")
}

pub(crate) fn write_floor(db: &Db, bodies: &[Vec<u8>]) -> u64 {
    let mut group = db.prepare(
        "INSERT INTO customer_groups (id, business_code, group_name, group_description, \
         created_at, updated_at, raw_json, first_seen_at, last_changed_at, deleted_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
    );
    let mut history = db.prepare(
        "INSERT INTO customer_group_history \
         (group_id, sync_run_id, change, recorded_at, updated_at, raw_json) \
         VALUES (?, NULL, 'insert', ?, ?, ?)",
    );
    let mut records = 0;
    for body in bodies {
        let parsed = parse_body(body).expect("a JSON body");
        let Content::Groups(groups) = parsed.content else {
            panic!("a page without groups");
        };
        let now = format_timestamp(now_utc());
        db.exec("BEGIN");
        for r in &groups.records {
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
        }
        db.exec("COMMIT");
        records += groups.records.len() as u64;
    }
    records
}

/// Every page the sync would fetch, as raw bodies.
pub(crate) async fn fetch_bodies(fake: &FakeApi, n: usize) -> Vec<Vec<u8>> {
    let client = reqwest::Client::new();
    let mut bodies = Vec::with_capacity(n.div_ceil(PER_PAGE));
    for page in 1..=n.div_ceil(PER_PAGE).max(1) {
        let url = format!("{}?page={page}", fake.api_url());
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
