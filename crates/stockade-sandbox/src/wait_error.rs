//! When `wait` on a box's main process fails, its exit status is unknown —
//! and said so ([`WaitError`]), never replaced by a made-up status. A
//! fabricated SIGKILL would be classified and stored as "killed by signal 9,
//! sent from outside stockade"; an unknown status is classified
//! `interrupted`, with the error in the evidence's `decided_by`.

use std::io;
use std::process::ExitStatus;

/// The main process's exit status could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "could not read the exit status of the main process (pid {pid}) of box {box_name}: {message}"
)]
pub struct WaitError {
    /// The box.
    pub box_name: String,
    /// The main process (0: unknown).
    pub pid: u32,
    /// The OS error number, when `wait` returned one.
    pub errno: Option<i32>,
    /// What went wrong.
    pub message: String,
}

impl WaitError {
    /// `wait` on `pid` of `box_name` failed with `err`.
    pub fn new(box_name: &str, pid: u32, err: &io::Error) -> WaitError {
        WaitError {
            box_name: box_name.to_string(),
            pid,
            errno: err.raw_os_error(),
            message: err.to_string(),
        }
    }
}

/// What [`crate::Agent::finish`] is told about the main process: its status
/// from `wait`, or why there is none. Built from an [`ExitStatus`] or from a
/// `Result<ExitStatus, WaitError>` (a [`crate::StopOutcome`]'s `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waited(pub Result<ExitStatus, WaitError>);

impl From<ExitStatus> for Waited {
    fn from(status: ExitStatus) -> Waited {
        Waited(Ok(status))
    }
}

impl From<Result<ExitStatus, WaitError>> for Waited {
    fn from(status: Result<ExitStatus, WaitError>) -> Waited {
        Waited(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_box_the_pid_and_the_errno() {
        let err = WaitError::new("web.0", 42, &io::Error::from_raw_os_error(libc::ECHILD));
        assert_eq!(err.errno, Some(libc::ECHILD));
        let text = err.to_string();
        assert!(text.contains("pid 42") && text.contains("box web.0"), "{text}");
        assert!(text.contains("No child processes"), "{text}");
        let other = WaitError::new("b", 1, &io::Error::other("gone"));
        assert_eq!(other.errno, None);
    }
}
