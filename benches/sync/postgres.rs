//! The PostgreSQL scenarios, run when `XTRAKIT_BENCH_POSTGRES` names a server
//! (`postgres://user@host:port`, the password in `PGPASSWORD`), each on a database of its own
//! made for it and dropped after:
//! - `pg-copy-floor`: the same records, parsed from the same bodies, loaded with their history
//!   rows by `COPY` (one transaction per page, two `COPY`s) into the product's schema, made by
//!   its own migrations, with its indexes: what a bulk load costs on this server;
//! - `pg-full`: the first sync of N groups into an empty database;
//! - `pg-noop`: incremental syncs with nothing new, as for SQLite;
//! - `pg-incremental-1pct`: the incremental sync of 1 % changed groups.

use sqlx::{Connection, PgConnection};
use xtrakit_sync::store::Location;

use super::*;

/// The server, if the PostgreSQL scenarios are asked for.
pub(crate) fn server() -> Option<String> {
    std::env::var("XTRAKIT_BENCH_POSTGRES")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim_end_matches('/').to_owned())
}

/// One database on the server, dropped with it.
pub(crate) struct PgDb {
    server: String,
    name: String,
    pub(crate) url: String,
}

impl PgDb {
    pub(crate) async fn create(server: &str) -> PgDb {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("xks_bench_{}_{k}", std::process::id());
        let mut admin = admin(server).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the benchmark database");
        let _ = admin.close().await;
        let url = format!("{server}/{name}");
        PgDb {
            server: server.to_owned(),
            name,
            url,
        }
    }

    pub(crate) async fn drop_now(self) {
        let mut admin = admin(&self.server).await;
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::query(&drop)
            .execute(&mut admin)
            .await
            .expect("drop the benchmark database");
        let _ = admin.close().await;
    }

    async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connect")
    }

    async fn count(&self, sql: &str) -> u64 {
        let mut conn = self.connect().await;
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .expect(sql);
        let _ = conn.close().await;
        n as u64
    }

    async fn text(&self, sql: &str) -> String {
        let mut conn = self.connect().await;
        let t: Option<String> = sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .expect(sql);
        let _ = conn.close().await;
        t.unwrap_or_default()
    }

    /// What `Snapshot` reads from a SQLite database, from this one.
    async fn snapshot(&self) -> Snapshot {
        let watermark = self
            .text("SELECT (SELECT watermark FROM sync_state WHERE scope = 'all')")
            .await;
        let filter = chrono::NaiveDateTime::parse_from_str(&watermark, "%Y-%m-%d %H:%M:%S")
            .map(|w| {
                (w - chrono::Duration::days(1))
                    .format("%Y-%m-%d")
                    .to_string()
            })
            .unwrap_or_default();
        Snapshot {
            last_changed: self
                .text("SELECT coalesce(max(last_changed_at), '') FROM customer_groups")
                .await,
            history: self
                .count("SELECT count(*) FROM customer_group_history")
                .await,
            last_received: self
                .count(
                    "SELECT coalesce((SELECT received FROM sync_runs ORDER BY id DESC LIMIT 1), 0)",
                )
                .await,
            filter,
        }
    }
}

async fn admin(server: &str) -> PgConnection {
    PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("the benchmark's PostgreSQL server answers (XTRAKIT_BENCH_POSTGRES)")
}

/// COPY's text format for one value (see `src/store/copy.rs`).
fn field(out: &mut String, value: Option<&str>) {
    match value {
        None => out.push_str("\\N"),
        Some(v) => {
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

/// One row in COPY's text format.
fn copy_line(out: &mut String, values: &[Option<&str>]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        field(out, *v);
    }
    out.push('\n');
}

/// The floor: parse each body, then one transaction with a `COPY` of its groups and one of
/// their history rows.
pub(crate) async fn copy_floor(db: &PgDb, bodies: &[Vec<u8>]) -> Sample {
    Store::open(&Location::parse(&db.url).expect("URL"))
        .await
        .expect("schema")
        .close()
        .await;
    let mut conn = db.connect().await;
    let started = Instant::now();
    let mut records = 0;
    for body in bodies {
        let groups = floor::groups_of(body);
        let now = format_timestamp(now_utc());
        let (mut rows, mut history) = (String::new(), String::new());
        for r in &groups.records {
            let created = r.created_at.map(format_timestamp);
            let updated = r.updated_at.map(format_timestamp);
            let code = r.business_code.map(|c| c.to_string());
            let id = r.id.to_string();
            copy_line(
                &mut rows,
                &[
                    Some(id.as_str()),
                    code.as_deref(),
                    r.group_name.as_deref(),
                    r.group_description.as_deref(),
                    created.as_deref(),
                    updated.as_deref(),
                    Some(r.raw_json.as_str()),
                    Some(now.as_str()),
                    Some(now.as_str()),
                    None,
                ],
            );
            copy_line(
                &mut history,
                &[
                    Some(id.as_str()),
                    None,
                    Some("insert"),
                    Some(now.as_str()),
                    updated.as_deref(),
                    Some(r.raw_json.as_str()),
                ],
            );
            records += 1;
        }
        let mut tx = conn.begin().await.expect("BEGIN");
        for (statement, data) in [
            (
                "COPY customer_groups (id, business_code, group_name, group_description, \
              created_at, updated_at, raw_json, first_seen_at, last_changed_at, deleted_at) \
              FROM STDIN",
                rows,
            ),
            (
                "COPY customer_group_history (group_id, sync_run_id, change, recorded_at, \
              updated_at, raw_json) FROM STDIN",
                history,
            ),
        ] {
            let mut copy = tx.copy_in_raw(statement).await.expect("COPY");
            copy.send(data.into_bytes()).await.expect("COPY data");
            copy.finish().await.expect("COPY done");
        }
        tx.commit().await.expect("COMMIT");
    }
    let _ = conn.close().await;
    floor::floor_sample(records, started)
}

/// One `xtrakit-sync --once` into `db`, as [`run_sync`] does for a SQLite file.
pub(crate) async fn run_sync_pg(
    launcher: &Shared<Launcher>,
    fake: &FakeApi,
    db: &PgDb,
    dir: &Path,
) -> Sample {
    // A new database has no tables until the sync migrates it (as a new SQLite file).
    let migrated = db
        .count("SELECT count(*) FROM pg_tables WHERE tablename = 'sync_state'")
        .await
        > 0;
    let before = match migrated {
        true => db.snapshot().await,
        false => Snapshot {
            last_changed: String::new(),
            history: 0,
            last_received: 0,
            filter: String::new(),
        },
    };
    let fresh = before.last_changed.is_empty();
    if !fresh {
        while format_timestamp(now_utc()) <= before.last_changed {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        warm_up(fake, &before.filter).await;
    }
    let wire_before = fake.wire_bytes();
    let (launcher, url, dir_owned, base) = (
        launcher.clone(),
        db.url.clone(),
        dir.to_owned(),
        fake.base_url(),
    );
    let ran = tokio::task::spawn_blocking(move || {
        launcher
            .lock()
            .expect("launcher")
            .run(&url, &dir_owned, &base)
    })
    .await
    .expect("launcher thread");
    if ran.code != 0 {
        let log = std::fs::read_to_string(dir.join("sync.log")).unwrap_or_default();
        panic!("xtrakit-sync --once exited with {}:\n{log}", ran.code);
    }
    let wire_after = fake.wire_bytes();
    let after = db.snapshot().await;
    let groups_written = db
        .count(&format!(
            "SELECT count(*) FROM customer_groups WHERE last_changed_at > '{}'",
            before.last_changed
        ))
        .await;
    Sample {
        records: after.last_received,
        wall: ran.wall,
        rss_kib: Some(ran.rss_kib),
        groups_written,
        history_written: after.history - before.history,
        wire: Some(WireBytes {
            sent: wire_after.sent - wire_before.sent,
            decoded: wire_after.decoded - wire_before.decoded,
        }),
    }
}

/// For one N: the COPY floor, `pg-full`, `pg-noop` (if asked), then `pg-incremental-1pct`.
pub(crate) async fn postgres_scenarios(
    launcher: &Shared<Launcher>,
    server: &str,
    n: usize,
    noop: bool,
    results: &mut Results,
) {
    let fake = start_fake(n, link_pagination(), Duration::ZERO).await;
    let bodies = fetch_bodies(&fake.api_url()).await;
    let floor_db = PgDb::create(server).await;
    push(
        results,
        n,
        "pg-copy-floor",
        copy_floor(&floor_db, &bodies).await,
    );
    floor_db.drop_now().await;
    drop(bodies);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = PgDb::create(server).await;
    push(
        results,
        n,
        "pg-full",
        run_sync_pg(launcher, &fake, &db, dir.path()).await,
    );
    if noop {
        let ids: Vec<i64> = (0..NOOP_RECORDS)
            .map(|k| (1 + k * n / NOOP_RECORDS) as i64)
            .collect();
        fake.update_groups(&ids, &format_timestamp(now_utc()));
        run_sync_pg(launcher, &fake, &db, dir.path()).await;
        for _ in 0..NOOP_REPEATS {
            let sample = run_sync_pg(launcher, &fake, &db, dir.path()).await;
            assert_eq!(sample.records, NOOP_RECORDS as u64, "what a noop receives");
            push(results, n, "pg-noop", sample);
        }
    }
    let updated = fake.update_fraction(0.01, &format_timestamp(now_utc()));
    let sample = run_sync_pg(launcher, &fake, &db, dir.path()).await;
    assert_eq!(
        sample.groups_written,
        updated.len() as u64,
        "pg-incremental-1pct must rewrite exactly the updated groups"
    );
    push(results, n, "pg-incremental-1pct", sample);
    db.drop_now().await;
    fake.shutdown();
}
