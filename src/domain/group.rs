//! A customer group as the API sent it, typed once at the edge (`api::record`) and used by
//! every layer after it.

use chrono::NaiveDateTime;

/// One customer group as the API sent it, typed; `raw_json` is the record's exact text,
/// unknown fields included, so nothing the API said is lost.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRecord {
    pub id: i64,
    pub business_code: Option<i64>,
    pub group_name: Option<String>,
    pub group_description: Option<String>,
    pub created_at: Option<NaiveDateTime>,
    pub updated_at: Option<NaiveDateTime>,
    pub raw_json: String,
    /// Timestamps that could not be read: stored as NULL, logged as `bad_timestamp`.
    pub bad_timestamps: Vec<BadTimestamp>,
}

/// A timestamp field whose value could not be understood.
#[derive(Clone, Debug, PartialEq)]
pub struct BadTimestamp {
    pub field: &'static str,
    /// The value as JSON text (it may be a number, an object, ...).
    pub raw_value: String,
}

/// A record that cannot be stored (no id, id `"abc"`, a name that is an object, ...).
/// It is kept whole in `sync_log` so that nothing the API sent is silently dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectedRecord {
    /// The group's id when it could be read: the group exists upstream even if this
    /// version of it cannot be stored.
    pub id: Option<i64>,
    pub raw_json: String,
    pub reason: String,
}
