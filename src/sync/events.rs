//! The `sync_log` rows a run writes, built in one place so their shape stays the same.

use roaring::RoaringTreemap;
use serde_json::json;

use crate::api::{ApiError, BadTimestamp, RejectedRecord, RetryNotice};
use crate::domain::{format_millis, ApiKey};
use crate::outcome::SyncError;
use crate::store::{Level, LogEvent};

/// The event that records why a run failed. Auth failures carry the key's fingerprint,
/// never the key, so that a rotated or mistyped key can be told apart in `auth_failures`.
pub(super) fn failure(
    level: Level,
    event: &'static str,
    error: &SyncError,
    key: &ApiKey,
    url: Option<&str>,
) -> LogEvent {
    let message = match error {
        SyncError::Api(ApiError::Auth { message, .. }) => message.clone(),
        other => other.to_string(),
    };
    let detail = match error {
        SyncError::Api(ApiError::Auth { .. }) => {
            json!({ "key_fingerprint": key.fingerprint(), "url": url })
        }
        _ => json!({ "url": url }),
    };
    LogEvent::new(level, event, message)
        .with_status(http_status(error))
        .with_detail(detail)
}

pub(super) fn http_status(error: &SyncError) -> Option<u16> {
    match error {
        SyncError::Api(e) => e.http_status(),
        _ => None,
    }
}

pub(super) fn retry(notice: &RetryNotice) -> LogEvent {
    let delay_ms = u64::try_from(notice.delay.as_millis()).unwrap_or(u64::MAX);
    let message = format!(
        "retry {} of {} in {} after: {}",
        notice.retry,
        notice.max_retries,
        format_millis(delay_ms),
        notice.error
    );
    LogEvent::new(Level::Warn, "retry", message)
        .happened_at(notice.at)
        .with_status(notice.error.http_status())
        .with_detail(json!({
            "url": notice.url.as_str(),
            "retry": notice.retry,
            "delay_ms": delay_ms,
            "cause": notice.error.event(),
        }))
}

/// The record is kept whole: `detail.record` is its JSON exactly as the API sent it.
pub(super) fn rejected(record: &RejectedRecord) -> LogEvent {
    let reason = serde_json::Value::String(record.reason.clone());
    let detail = format!("{{\"reason\":{reason},\"record\":{}}}", record.raw_json);
    let mut event = LogEvent::new(Level::Warn, "rejected_record", record.reason.clone());
    event.detail = Some(detail);
    event.logged_once()
}

pub(super) fn bad_timestamp(id: i64, bad: &BadTimestamp) -> LogEvent {
    let message = format!(
        "group {id}: {} {} is not a timestamp; stored NULL (raw value kept in raw_json)",
        bad.field, bad.raw_value
    );
    let value: serde_json::Value =
        serde_json::from_str(&bad.raw_value).unwrap_or_else(|_| json!(bad.raw_value));
    LogEvent::new(Level::Warn, "bad_timestamp", message)
        .with_detail(json!({ "id": id, "field": bad.field, "value": value }))
}

pub(super) fn duplicate_id(id: i64) -> LogEvent {
    let message =
        format!("group {id} appeared more than once in one listing; kept the latest updated_at");
    LogEvent::new(Level::Warn, "duplicate_id", message).with_detail(json!({ "id": id }))
}

/// The most ids an event's `detail` lists; the count is always whole.
const IDS_IN_DETAIL: usize = 100;

pub(super) fn filter_not_honoured(count: u64, date: &str) -> LogEvent {
    let message = format!(
        "{count} records have updated_at before the updated_at={date} filter sent: the API is \
         not filtering as expected; the scope is listed again without the filter"
    );
    LogEvent::new(Level::Warn, "filter_not_honoured", message)
        .with_detail(json!({ "count": count, "updated_at": date }))
}

pub(super) fn count_mismatch(announced: u64, received: u64) -> LogEvent {
    let message = format!(
        "the API announced {announced} groups but the listing received {received}; \
         no group is marked deleted on the strength of this listing"
    );
    LogEvent::new(Level::Warn, "count_mismatch", message)
        .with_detail(json!({ "announced": announced, "received": received }))
}

pub(super) fn deletion_guard(confirmed: u64, live_before: u64, fraction: f64) -> LogEvent {
    let message = format!(
        "{confirmed} of the {live_before} groups live before this full run are gone upstream, \
         more than delete_guard_fraction ({fraction}); none were marked deleted \
         (--allow-mass-delete lifts the guard for one run)"
    );
    LogEvent::new(Level::Warn, "deletion_guard", message).with_detail(json!({
        "missing": confirmed,
        "live": live_before,
        "delete_guard_fraction": fraction,
    }))
}

/// Candidates that a confirming listing found after all: without it they would have been
/// marked deleted although the API still has them.
pub(super) fn deletion_unconfirmed(saved: &RoaringTreemap) -> LogEvent {
    let ids: Vec<u64> = saved.iter().take(IDS_IN_DETAIL).collect();
    let count = saved.len();
    let message = match count {
        1 => "1 group missing from the first listing was listed again by a confirming \
              listing (rows shifted between pages); it was not marked deleted"
            .to_owned(),
        n => format!(
            "{n} groups missing from the first listing were listed again by a confirming \
             listing (rows shifted between pages); they were not marked deleted"
        ),
    };
    LogEvent::new(Level::Info, "deletion_unconfirmed", message)
        .with_detail(json!({ "count": count, "ids": ids }))
}

pub(super) fn deletion_unsettled(candidates: u64) -> LogEvent {
    let message = format!(
        "the listings kept changing while they were confirmed: {candidates} groups missing \
         from them were not marked deleted; the next full run looks again"
    );
    LogEvent::new(Level::Info, "deletion_unconfirmed", message)
        .with_detail(json!({ "count": candidates, "unsettled": true }))
}
