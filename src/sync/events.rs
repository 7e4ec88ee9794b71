//! The `sync_log` rows a run writes, built in one place so their shape stays the same.

use serde_json::json;

use crate::api::{ApiError, BadTimestamp, RejectedRecord, RetryNotice};
use crate::domain::ApiKey;
use crate::outcome::SyncError;
use crate::store::{Level, LogEvent};

/// The event that records why a run failed. Auth failures carry the key's fingerprint,
/// never the key, so that a rotated or mistyped key can be told apart in `auth_failures`.
pub fn failure(
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

pub fn http_status(error: &SyncError) -> Option<u16> {
    match error {
        SyncError::Api(e) => e.http_status(),
        _ => None,
    }
}

pub fn retry(notice: &RetryNotice) -> LogEvent {
    let message = format!(
        "retry {} of {} in {:.1} s after: {}",
        notice.retry,
        notice.max_retries,
        notice.delay.as_secs_f64(),
        notice.error
    );
    LogEvent::new(Level::Warn, "retry", message)
        .with_status(notice.error.http_status())
        .with_detail(json!({
            "url": notice.url.as_str(),
            "retry": notice.retry,
            "delay_ms": notice.delay.as_millis() as u64,
            "cause": notice.error.event(),
        }))
}

/// The record is kept whole: `detail.record` is its JSON exactly as the API sent it.
pub fn rejected(record: &RejectedRecord) -> LogEvent {
    let reason = serde_json::Value::String(record.reason.clone());
    let detail = format!("{{\"reason\":{reason},\"record\":{}}}", record.raw_json);
    let mut event = LogEvent::new(Level::Warn, "rejected_record", record.reason.clone());
    event.detail = Some(detail);
    event
}

pub fn bad_timestamp(id: i64, bad: &BadTimestamp) -> LogEvent {
    let message = format!(
        "group {id}: {} {} is not a timestamp; stored NULL (raw value kept in raw_json)",
        bad.field, bad.raw_value
    );
    let value: serde_json::Value =
        serde_json::from_str(&bad.raw_value).unwrap_or_else(|_| json!(bad.raw_value));
    LogEvent::new(Level::Warn, "bad_timestamp", message)
        .with_detail(json!({ "id": id, "field": bad.field, "value": value }))
}

pub fn duplicate_id(id: i64) -> LogEvent {
    let message =
        format!("group {id} appeared more than once in one response; kept the latest updated_at");
    LogEvent::new(Level::Warn, "duplicate_id", message).with_detail(json!({ "id": id }))
}
