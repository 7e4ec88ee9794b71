//! The real binary `--once`, killed with SIGKILL in the middle of its run.

use std::time::Duration;

use super::check::Outcome;
use super::history::MAX_RETRIES;
use crate::helpers::{send_signal, write_config, TestApp};

/// Starts `--once --full --allow-mass-delete` (the guard is for the library runs to test)
/// and waits until its run row is `running` with `pages` pages committed and the next
/// request has reached the (stalled) fake; then kills it. A listing with fewer pages lets
/// the binary finish first. Returns the outcome and the binary's output.
pub(crate) async fn once_killed_after(
    app: &TestApp,
    pages: u8,
    requests_before: usize,
) -> (Outcome, String) {
    // One request at a time: the stall is the request after the `pages` passed ones only if
    // the requests arrive in page order.
    let config = write_config(
        app,
        &format!("max_retries = {MAX_RETRIES}\nmax_concurrent_requests = 1\n"),
    );
    let config = config.to_str().expect("utf-8 path").to_owned();
    let mut child = app.spawn_binary(
        &["--once", "--full", "--allow-mass-delete"],
        &[("XTRAKIT_SYNC_CONFIG", &config)],
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let killed = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the binary neither finished nor stalled"
        );
        if child.try_wait().expect("child status").is_some() {
            break false;
        }
        let stalled = app.api.request_count() > requests_before + usize::from(pages);
        if stalled && pages_committed(app).await >= i64::from(pages) {
            send_signal(child.id().expect("pid"), "KILL").await;
            break true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let out = crate::helpers::finish(child).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let outcome = match (killed, out.status.success()) {
        (true, _) => Outcome::Killed,
        (false, true) => Outcome::Success,
        (false, false) => Outcome::Failed,
    };
    (outcome, text)
}

/// Pages committed by the run in progress (0 before its row exists).
async fn pages_committed(app: &TestApp) -> i64 {
    if !app.on_postgres() && !app.db_path.exists() {
        return 0;
    }
    let pool = app.db().await;
    let pages: Option<i64> =
        sqlx::query_scalar("SELECT max(pages) FROM sync_runs WHERE status = 'running'")
            .fetch_one(&pool)
            .await
            .unwrap_or(None);
    pool.close().await;
    pages.unwrap_or(0)
}
