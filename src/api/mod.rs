//! The xtrakit API: an HTTP client that knows the API's failure modes, and the parsing that
//! turns its loose, partly contradictory JSON into typed records once, at the edge.

pub mod client;
mod clock;
pub mod envelope;
mod error;
mod page;
pub mod record;
mod redact;
mod response;
pub mod timestamp;
mod tls;

pub use client::{ApiClient, ClientSettings, RetryNotice};
pub use envelope::{parse_body, Content, Groups, NextLink, ParsedBody};
pub use error::{failure_text, ApiError};
pub use page::{Page, Reached};

/// The records this layer produces are domain types: the store and the sync use them too.
pub use crate::domain::{BadTimestamp, GroupRecord, RejectedRecord};
