//! The fake's response for each glitch a history can queue.

use std::time::Duration;

use super::history::Glitch;
use crate::fake_api::Fault;
use crate::helpers::KEY;

impl Glitch {
    pub(crate) fn fault(self) -> Fault {
        let status = |status: u16, body: &str, retry_after: Option<&str>| Fault::Status {
            status,
            body: body.into(),
            retry_after: retry_after.map(str::to_owned),
        };
        let raw = |status: u16, body: &str| Fault::Raw {
            status,
            content_type: "application/json".into(),
            body: body.into(),
        };
        match self {
            Glitch::Pass => Fault::Pass,
            Glitch::Status(s) => {
                status(s, r#"{"status":500,"error":"Internal Server Error"}"#, None)
            }
            Glitch::TooMany => status(
                429,
                r#"{"status":429,"error":"Too Many Requests"}"#,
                Some("0"),
            ),
            Glitch::InvalidJson => Fault::InvalidJson,
            Glitch::Truncated => Fault::Truncated,
            Glitch::Slow => Fault::Slow {
                delay: Duration::from_millis(30),
            },
            Glitch::EchoKey => status(
                500,
                &format!(r#"{{"status":500,"error":"bad key {}"}}"#, KEY),
                None,
            ),
            Glitch::ErrorBody => raw(200, r#"{"status":200,"error":"Database unavailable"}"#),
            Glitch::EmptyPage => raw(200, r#"{"status":200,"data":{"groups":[]}}"#),
            Glitch::MissingPage => raw(404, r#"{"message":"Not Found"}"#),
        }
    }
}
