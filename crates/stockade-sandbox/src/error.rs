//! The two error types of the crate: [`SandboxError`] for everything about boxes
//! and the backend, [`SpawnError`] for a program that did not start.
//!
//! Every variant names the path, box or value that failed and carries a hint
//! that says what to do next; `SpawnError::cause` turns a spawn failure into the
//! [`ExitCause::SpawnFailed`] the engine records.

use std::io;
use std::path::PathBuf;

use stockade_proto::{ExitCause, SpawnErrorKind};

/// What went wrong with the sandbox or one of its boxes.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A file or directory of a cgroup could not be created, read, written or removed.
    #[error("cannot {action} {}: {source}; {}", path.display(), io_hint(source))]
    Io {
        /// What was being done ("create", "write", "read", "remove", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A limit was zero, negative, too small or not a number.
    #[error("limit `{field}` = {value} is invalid: {hint}")]
    InvalidLimit {
        /// The field of `Limits` (`memory`, `pids`, ...).
        field: &'static str,
        /// The value that was given.
        value: String,
        /// What a valid value looks like.
        hint: &'static str,
    },
    /// A box name was empty, absolute, contained `..` or characters outside `[A-Za-z0-9._-]`.
    #[error(
        "box name `{name}` is invalid: {reason}; use relative segments of [A-Za-z0-9._-] joined by `/`, e.g. `web/0/17`"
    )]
    InvalidBoxName {
        /// The name that was given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A box of that name already exists (a leftover from an earlier daemon?).
    #[error(
        "box `{name}` already exists at {}; remove it with `Sandbox::remove_stale` or pick a new run number",
        path.display()
    )]
    BoxExists {
        /// The box name.
        name: String,
        /// Its cgroup directory.
        path: PathBuf,
    },
    /// The box's cgroup disappeared while the box was in use.
    #[error(
        "the cgroup of box `{name}` vanished ({}); something outside stockade removed it — its processes are no longer tracked",
        path.display()
    )]
    BoxVanished {
        /// The box name.
        name: String,
        /// The directory that is gone.
        path: PathBuf,
    },
    /// Processes were still in the box after repeated kills.
    #[error(
        "box `{name}` still holds {count} process(es) after repeated SIGKILL; check for processes stuck in uninterruptible sleep (state D) with `ps -eo pid,stat,cmd`"
    )]
    NotEmpty {
        /// The box name.
        name: String,
        /// How many processes were left.
        count: usize,
    },
    /// The backend that was asked for is not usable on this host.
    #[error("the {wanted} backend is not usable: {reason}; {hint}")]
    BackendUnavailable {
        /// The backend that was asked for.
        wanted: &'static str,
        /// Why it cannot be used, naming the path that was checked.
        reason: String,
        /// What to do.
        hint: &'static str,
    },
    /// `Sandbox::new` was called outside a tokio runtime.
    #[error(
        "Sandbox::new must be called inside a tokio runtime (it captures the runtime handle for the spawner thread)"
    )]
    NoRuntime,
    /// The spawner thread is gone (it could not be started, or it panicked).
    #[error("the sandbox spawner thread is not running: {0}; restart the daemon")]
    SpawnerGone(String),
}

impl SandboxError {
    /// Shorthand for [`SandboxError::Io`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        SandboxError::Io { action, path: path.into(), source }
    }

    /// True when the error says the cgroup directory is gone.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, SandboxError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
            || matches!(self, SandboxError::BoxVanished { .. })
    }
}

fn io_hint(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
            "run stockade as root or delegate a writable cgroup subtree to its user"
        }
        Some(libc::ENOENT) => "the cgroup is gone: it was removed from outside or never created",
        Some(libc::EBUSY) => "the cgroup still holds processes or child cgroups",
        Some(libc::ENOTSUP) | Some(libc::EINVAL) => {
            "the kernel rejected the value; check that the controller is enabled and the value is in range"
        }
        _ => "see the OS error",
    }
}

/// A program that did not start. [`SpawnError::cause`] gives the
/// [`ExitCause::SpawnFailed`] to record.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The spawn request itself was unusable (empty argv, NUL bytes, bad cwd).
    #[error("cannot spawn in box `{box_name}`: {reason}")]
    InvalidSpec {
        /// The box name.
        box_name: String,
        /// What is wrong, naming the value.
        reason: String,
        /// What to do.
        hint: String,
    },
    /// The box could not be set up (name, limits, cgroup creation).
    #[error("cannot set up box `{box_name}`: {source}")]
    Box {
        /// The box name.
        box_name: String,
        /// What failed.
        #[source]
        source: SandboxError,
    },
    /// The OS refused to start the program.
    #[error("cannot start `{program}` in box `{box_name}`: {source}")]
    Exec {
        /// The box name.
        box_name: String,
        /// The program, as resolved.
        program: String,
        /// The class of failure.
        kind: SpawnErrorKind,
        /// What to do; for EAGAIN it names the limit that bound.
        hint: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl SpawnError {
    /// The hint: what to do next.
    pub fn hint(&self) -> String {
        match self {
            SpawnError::InvalidSpec { hint, .. } | SpawnError::Exec { hint, .. } => hint.clone(),
            SpawnError::Box { source, .. } => match source {
                SandboxError::InvalidLimit { hint, .. } => (*hint).to_string(),
                SandboxError::BackendUnavailable { hint, .. } => (*hint).to_string(),
                SandboxError::Io { source, .. } => io_hint(source).to_string(),
                other => other.to_string(),
            },
        }
    }

    /// The class of failure.
    pub fn kind(&self) -> SpawnErrorKind {
        match self {
            SpawnError::InvalidSpec { .. } => SpawnErrorKind::Os,
            SpawnError::Box { .. } => SpawnErrorKind::BoxSetup,
            SpawnError::Exec { kind, .. } => *kind,
        }
    }

    /// The OS error number, if the OS said no.
    pub fn errno(&self) -> Option<i32> {
        match self {
            SpawnError::Exec { source, .. } => source.raw_os_error(),
            SpawnError::Box { source: SandboxError::Io { source, .. }, .. } => {
                source.raw_os_error()
            }
            _ => None,
        }
    }

    /// The [`ExitCause::SpawnFailed`] for the engine to record.
    pub fn cause(&self) -> ExitCause {
        ExitCause::SpawnFailed {
            error: self.kind(),
            errno: self.errno(),
            message: self.to_string(),
            hint: self.hint(),
        }
    }
}
