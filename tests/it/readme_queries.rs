//! The README's example queries run unchanged on the database the tests use (SQLite, or
//! PostgreSQL with `XTRAKIT_TEST_POSTGRES`), after a sync that gave them rows to read.

use crate::helpers::synced_app;

/// The statements of the README's "Example queries" block, comments removed.
fn readme_queries() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let after = readme
        .split_once("Example queries")
        .expect("the README has its example queries")
        .1;
    let block = after
        .split_once("```sql\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a sql block")
        .0;
    let text: String = block
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_example_query_of_the_readme_runs_on_the_backend_under_test() {
    let app = synced_app(50).await;
    let queries = readme_queries();
    assert!(queries.len() >= 8, "{queries:#?}");
    let pool = app.db().await;
    let mut rows_seen = 0;
    for sql in &queries {
        let rows = sqlx::query(sql)
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("the README's query fails: {e}\n{sql}"));
        rows_seen += rows.len();
    }
    pool.close().await;
    assert!(rows_seen > 0, "the queries read the synced rows");
}
