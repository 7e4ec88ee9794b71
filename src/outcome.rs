//! The one place where the kind of failure decides the run's status, the `sync_log` event
//! and the exit code.

use crate::api::ApiError;
use crate::config::ConfigError;
use crate::domain::RunStatus;
use crate::lock::LockError;
use crate::startup::StartupError;
use crate::store::{Level, StoreError};

/// How the process ends, ordered by gravity: when several scopes or steps end differently,
/// the greatest wins ([`Exit::gravest`]), so one failed scope is never hidden by a later
/// success. The numeric codes are the documented contract (README, Commands and exit codes); only [`Exit::code`]
/// knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    Ok,
    SyncFailed,
    Auth,
    Database,
    /// The database was migrated by a newer xtrakit-sync: only that version (or a backup)
    /// can help, so systemd must not restart this one in a loop.
    DatabaseTooNew,
    Config,
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::SyncFailed => 1,
            Exit::Config => 2,
            Exit::Auth => 3,
            Exit::Database => 4,
            Exit::DatabaseTooNew => 5,
            Exit::Interrupted => 130,
        }
    }

    /// The exit of a command that ran several scopes: the gravest one wins.
    pub fn gravest(exits: impl IntoIterator<Item = Exit>) -> Exit {
        exits.into_iter().max().unwrap_or(Exit::Ok)
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// The numeric code back to its meaning, for reports that carry the number (a run's
/// `exit_code`); a code this program never returns comes back as the error.
impl TryFrom<u8> for Exit {
    type Error = u8;

    fn try_from(code: u8) -> Result<Self, u8> {
        [
            Exit::Ok,
            Exit::SyncFailed,
            Exit::Config,
            Exit::Auth,
            Exit::Database,
            Exit::DatabaseTooNew,
            Exit::Interrupted,
        ]
        .into_iter()
        .find(|exit| exit.code() == code)
        .ok_or(code)
    }
}

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

/// Why a command could not even start its work; `main` prints it, once, and exits with
/// [`AppError::exit`].
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Startup(#[from] StartupError),
}

impl AppError {
    /// A setting the user can fix exits 2; a database that cannot be opened exits 4; one
    /// that a newer version migrated exits 5.
    pub fn exit(&self) -> Exit {
        match self {
            AppError::Config(_) | AppError::Startup(StartupError::Config(_)) => Exit::Config,
            AppError::Startup(StartupError::Client(_)) => Exit::Config,
            AppError::Startup(StartupError::Database(_)) => Exit::Database,
            AppError::Startup(StartupError::DatabaseTooNew(_)) => Exit::DatabaseTooNew,
        }
    }
}

/// What a result means for the run row, the event log and the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub status: RunStatus,
    pub exit: Exit,
    /// The event that records the failure, if the failure is the API's doing.
    pub event: Option<(Level, &'static str)>,
}

pub fn judge(result: &Result<(), SyncError>) -> Verdict {
    let (status, exit, event) = match result {
        Ok(()) => (RunStatus::Success, Exit::Ok, None),
        Err(SyncError::Api(e @ ApiError::Auth { .. })) => (
            RunStatus::AuthFailed,
            Exit::Auth,
            Some((Level::Error, e.event())),
        ),
        Err(SyncError::Api(e)) => (
            RunStatus::Failed,
            Exit::SyncFailed,
            Some((Level::Error, e.event())),
        ),
        Err(SyncError::Store(_)) | Err(SyncError::Lock(_)) => {
            (RunStatus::Failed, Exit::Database, None)
        }
        Err(SyncError::Interrupted) => (RunStatus::Interrupted, Exit::Interrupted, None),
    };
    Verdict {
        status,
        exit,
        event,
    }
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
        assert_eq!(v.exit, Exit::Auth);
        assert_eq!(v.event, Some((Level::Error, "auth_failure")));
    }

    #[test]
    fn server_error_exits_1_and_logs_http_error() {
        let v = judge(&Err(SyncError::Api(ApiError::Http {
            status: 500,
            message: "boom".into(),
        })));
        assert_eq!((v.status, v.exit), (RunStatus::Failed, Exit::SyncFailed));
        assert_eq!(v.event, Some((Level::Error, "http_error")));
    }

    #[test]
    fn interruption_exits_130() {
        assert_eq!(judge(&Err(SyncError::Interrupted)).exit.code(), 130);
    }

    #[test]
    fn gravest_exit_wins_in_the_historical_order() {
        let gravest = |codes: &[u8]| {
            let exits = codes.iter().map(|c| Exit::try_from(*c).unwrap());
            Exit::gravest(exits).code()
        };
        assert_eq!(gravest(&[0, 1, 3, 0]), 3);
        assert_eq!(gravest(&[1, 4]), 4);
        assert_eq!(gravest(&[4, 130]), 130);
        assert_eq!(gravest(&[4, 2]), 2);
        assert_eq!(gravest(&[]), 0);
    }

    #[test]
    fn every_exit_round_trips_through_its_code() {
        for code in [0, 1, 2, 3, 4, 5, 130] {
            assert_eq!(Exit::try_from(code).map(Exit::code), Ok(code));
        }
        assert_eq!(Exit::try_from(6), Err(6));
    }
}
