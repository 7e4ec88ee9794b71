//! The one place where the kind of failure decides the run's status, the `sync_log` event
//! and the exit code.

use crate::api::ApiError;
use crate::domain::RunStatus;
use crate::lock::LockError;
use crate::store::{Level, StoreError};

pub const EXIT_OK: u8 = 0;
pub const EXIT_SYNC_FAILED: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;
pub const EXIT_AUTH: u8 = 3;
pub const EXIT_DATABASE: u8 = 4;
pub const EXIT_INTERRUPTED: u8 = 130;

/// Why a run (or a sync of every scope) did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("interrupted by a signal")]
    Interrupted,
}

/// What a result means for the run row, the event log and the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub status: RunStatus,
    pub exit_code: u8,
    /// The event that records the failure, if the failure is the API's doing.
    pub event: Option<(Level, &'static str)>,
}

pub fn judge(result: &Result<(), SyncError>) -> Verdict {
    let (status, exit_code, event) = match result {
        Ok(()) => (RunStatus::Success, EXIT_OK, None),
        Err(SyncError::Api(e @ ApiError::Auth { .. })) => (
            RunStatus::AuthFailed,
            EXIT_AUTH,
            Some((Level::Error, e.event())),
        ),
        Err(SyncError::Api(e)) => (
            RunStatus::Failed,
            EXIT_SYNC_FAILED,
            Some((Level::Error, e.event())),
        ),
        Err(SyncError::Store(_)) | Err(SyncError::Lock(_)) => {
            (RunStatus::Failed, EXIT_DATABASE, None)
        }
        Err(SyncError::Interrupted) => (RunStatus::Interrupted, EXIT_INTERRUPTED, None),
    };
    Verdict {
        status,
        exit_code,
        event,
    }
}

/// The exit code of a command that ran several scopes: the gravest one wins.
pub fn combined_exit_code(codes: impl IntoIterator<Item = u8>) -> u8 {
    let rank = |code: u8| match code {
        EXIT_OK => 0,
        EXIT_SYNC_FAILED => 1,
        EXIT_AUTH => 2,
        EXIT_DATABASE => 3,
        _ => 4,
    };
    codes
        .into_iter()
        .max_by_key(|c| rank(*c))
        .unwrap_or(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_rejection_exits_3_and_logs_auth_failure() {
        let v = judge(&Err(SyncError::Api(ApiError::Auth {
            status: 401,
            message: "Unauthorized: Invalid API Key".into(),
        })));
        assert_eq!(v.status, RunStatus::AuthFailed);
        assert_eq!(v.exit_code, 3);
        assert_eq!(v.event, Some((Level::Error, "auth_failure")));
    }

    #[test]
    fn server_error_exits_1_and_logs_http_error() {
        let v = judge(&Err(SyncError::Api(ApiError::Http {
            status: 500,
            message: "boom".into(),
        })));
        assert_eq!((v.status, v.exit_code), (RunStatus::Failed, 1));
        assert_eq!(v.event, Some((Level::Error, "http_error")));
    }

    #[test]
    fn interruption_exits_130() {
        assert_eq!(judge(&Err(SyncError::Interrupted)).exit_code, 130);
    }

    #[test]
    fn gravest_exit_code_wins() {
        assert_eq!(combined_exit_code([0, 1, 3, 0]), 3);
        assert_eq!(combined_exit_code([1, 4]), 4);
        assert_eq!(combined_exit_code([4, 130]), 130);
        assert_eq!(combined_exit_code([]), 0);
    }
}
