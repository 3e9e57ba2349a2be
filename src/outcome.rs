//! Failures that end a command with their own exit code (see `chatctl --help`), recognised
//! by `main` when it maps an error to the process status.

use std::time::Duration;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;
pub const EXIT_CONFIG: u8 = 3;
pub const EXIT_REFUSED: u8 = 4;
pub const EXIT_TIMED_OUT: u8 = 5;
pub const EXIT_LOCKED: u8 = 6;
pub const EXIT_INTERRUPTED: u8 = 130;

/// An operation outlived its deadline. It keeps running on Google's side; the next run resumes.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what}: operation {operation} is still running after {}s; it was not cancelled: run the \
     same command again to resume waiting for it",
    waited.as_secs()
)]
pub struct TimedOut {
    pub what: String,
    pub operation: String,
    pub waited: Duration,
}

/// Ctrl-C: nothing new was started; what was in flight is reported.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// Another run held the environment's lock for all of `--lock-timeout`.
#[derive(Debug, thiserror::Error)]
#[error(
    "environment `{env}` is locked by {holder} (waited {}s): let that run finish, pass a longer \
     --lock-timeout, or, if that run is gone, `chatctl unlock --env {env}`",
    waited.as_secs()
)]
pub struct Locked {
    pub env: String,
    /// Who holds it, where, since when and running what.
    pub holder: String,
    pub waited: Duration,
}

/// The user (or the lack of a terminal) refused a destructive command.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Maps an error to the documented exit code.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<Interrupted>() {
            return EXIT_INTERRUPTED;
        }
        if cause.is::<TimedOut>() {
            return EXIT_TIMED_OUT;
        }
        if cause.is::<Refused>() {
            return EXIT_REFUSED;
        }
        if cause.is::<Locked>() {
            return EXIT_LOCKED;
        }
        if cause.is::<crate::config::ConfigError>() {
            return EXIT_CONFIG;
        }
    }
    EXIT_FAILED
}
