//! What a successful request yields, shared by the client (which asks) and the response
//! reading (which decides what an answer means), so neither depends on the other.

use reqwest::Url;

use super::envelope::ParsedBody;

/// One response that carried data (or an empty result).
#[derive(Debug)]
pub struct Page {
    pub url: Url,
    /// What the server answered (a body status of 404 read as empty keeps the HTTP one).
    pub http_status: u16,
    pub body: ParsedBody,
}

/// How the request of a page came about, which decides what an answer without data means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reached {
    /// The first request of a listing: no data is an empty result.
    First,
    /// A page a previous page linked to: the API announced more, so no data is a bad response.
    Link,
}
