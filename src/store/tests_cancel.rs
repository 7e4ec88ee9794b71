//! A page write dropped part-way (a signal stops the run while SQLite writes) must leave the
//! page whole or absent and the write lock free: the run's end is then written by another
//! connection, which would otherwise wait for a transaction nobody will finish.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row as _};

use super::{Location, PageWrite, RunStart, Store};
use crate::domain::{now_utc, GroupRecord, Mode, Scope, Trigger};

const PER_PAGE: i64 = 2000;

fn records(page: i64) -> Vec<GroupRecord> {
    (page * PER_PAGE + 1..=(page + 1) * PER_PAGE)
        .map(|id| GroupRecord {
            id,
            business_code: Some(1),
            group_name: Some(format!("group {id}")),
            group_description: None,
            created_at: Some(now_utc()),
            updated_at: Some(now_utc()),
            raw_json: format!(r#"{{"id":{id},"group_name":"group {id}"}}"#),
            bad_timestamps: Vec::new(),
        })
        .collect()
}

#[tokio::test]
async fn a_first_load_page_dropped_part_way_is_whole_or_absent_and_frees_the_write_lock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cancel.db");
    let store = Store::open(&Location::Sqlite(path.clone()))
        .await
        .expect("a new database");
    let run_id = store
        .start_run(&RunStart {
            scope: Scope::ALL,
            trigger: Trigger::Once,
            mode: Mode::Full,
            started_at: now_utc(),
            watermark_before: None,
        })
        .await
        .expect("a run");
    let mut other = SqliteConnectOptions::new()
        .filename(&path)
        .busy_timeout(Duration::from_secs(3))
        .connect()
        .await
        .expect("a second connection");
    let repeats = HashSet::new();
    let mut dropped = 0;
    for page in 0..40 {
        let records = records(page);
        let write = PageWrite {
            run_id,
            scope: Scope::ALL,
            records: &records,
            received: records.len(),
            rejected: 0,
            events: &[],
            record_events: &[],
            repeats: &repeats,
            history: true,
            now: now_utc(),
            fresh: true,
        };
        let bound = Duration::from_millis(page as u64 / 2);
        if tokio::time::timeout(bound, store.write_page(&write))
            .await
            .is_err()
        {
            dropped += 1;
        }
        // What an interrupted run's end does: write through another connection.
        let mut tx = other.begin_with("BEGIN IMMEDIATE").await.expect(
            "the write lock is free once a dropped page write has ended (committed or not)",
        );
        let stored: i64 =
            sqlx::query("SELECT count(*) FROM customer_groups WHERE id BETWEEN ?1 AND ?2")
                .bind(page * PER_PAGE + 1)
                .bind((page + 1) * PER_PAGE)
                .fetch_one(&mut *tx)
                .await
                .expect("count")
                .get(0);
        assert!(
            stored == 0 || stored == PER_PAGE,
            "page {page} ({bound:?}) is half written: {stored} rows"
        );
        tx.rollback().await.expect("rollback");
    }
    assert!(dropped > 0, "no write was dropped part-way");
    store.close().await;
}
