//! `stockade exec`: a command run inside a running box, its stdio streamed
//! over an upgraded HTTP connection.
//!
//! The wire (types and codec in `stockade_proto::exec`): `POST /api/exec`
//! with `{"service": "web", "replica": 0} | {"job": 17}`, `"argv"`, `"tty"`
//! and `"size": {"rows", "cols"}`. Target errors (unknown unit, not running)
//! are ordinary JSON errors; otherwise the daemon answers `101 Switching
//! Protocols` (`Upgrade: stockade-exec`) and both sides exchange frames —
//! kind byte, big-endian u32 length, payload: `stdin`, `close-stdin`,
//! `resize`, `signal` from the client; `stdout`, `stderr` and one final
//! `exit` (JSON `{"cause": ExitCause}`; `spawn_failed` if the command could
//! not start) from the daemon. Why an upgrade and not WebSocket or HTTP/2:
//! it needs nothing beyond the HTTP/1.1 stack both sides already have, works
//! over the Unix socket and TCP alike (the guard has already checked the
//! request), and the frames are twenty lines to parse.
//!
//! The box side is the [`BoxExec`] trait. [`HostExec`] is the implementation
//! for boxes without namespaces (`isolation = "none"`): it joins the box's
//! cgroups (so the command dies with the box and counts against its limits),
//! takes the agent's uid, gid and working directory, and refuses a box that
//! has namespaces — entering those (setns into each, same seccomp filter) is
//! `stockade_sandbox::Sandbox::exec`, which an implementation of this trait
//! for the sandbox wires in.

mod cgroups;
mod host;
mod pty;
mod sandbox;
mod session;

pub use host::HostExec;
pub use sandbox::SandboxExec;
pub use session::serve;

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use stockade_proto::{ExitCause, TermSize};
use tokio::io::{AsyncRead, AsyncWrite};

/// What to run, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    /// The main pid of the run whose box the command enters.
    pub pid: u32,
    /// The command.
    pub argv: Vec<String>,
    /// Its whole environment (for a walled box: `stockade_spec::box_env`).
    pub env: Vec<(String, String)>,
    /// Its working directory; `None`: the agent's.
    pub cwd: Option<PathBuf>,
    /// A pty of this size (`-t`), or plain pipes.
    pub tty: Option<TermSize>,
}

/// A stream the command reads.
pub type Input = Box<dyn AsyncWrite + Send + Unpin>;
/// A stream the command writes.
pub type Output = Box<dyn AsyncRead + Send + Unpin>;

/// A command running in a box: its streams and its handle.
pub struct ExecChild {
    /// Its stdin (the pty with a tty).
    pub stdin: Option<Input>,
    /// Its stdout (the pty, with stderr merged, with a tty).
    pub stdout: Output,
    /// Its stderr; `None` with a tty.
    pub stderr: Option<Output>,
    /// Resize, signal, kill.
    pub control: Box<dyn ExecControl>,
    /// Resolves with its end, as an exact status.
    pub exit: Pin<Box<dyn Future<Output = io::Result<ExitCause>> + Send>>,
}

/// The control side of a running exec.
pub trait ExecControl: Send + Sync {
    /// The terminal changed size (no-op without a tty).
    fn resize(&self, size: TermSize) -> io::Result<()>;
    /// Deliver `signal` to the command (its process group).
    fn signal(&self, signal: i32) -> io::Result<()>;
    /// Kill the command and whatever it started.
    fn kill(&self) -> io::Result<()>;
}

/// The start of an exec, as the daemon awaits it.
pub type ExecStart<'a> = Pin<Box<dyn Future<Output = Result<ExecChild, ExecError>> + Send + 'a>>;

/// Runs commands inside boxes.
pub trait BoxExec: Send + Sync {
    /// Start `spec` in the box of `spec.pid`.
    fn exec(&self, spec: ExecSpec) -> ExecStart<'_>;
}

/// Why an exec did not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The box has namespaces this implementation cannot enter.
    #[error(
        "the box of pid {pid} is walled (its own namespaces); entering it needs the sandbox's exec, which this daemon was built without"
    )]
    Walled {
        /// The box's main pid.
        pid: u32,
    },
    /// The box's process is gone (it ended between the lookup and the exec).
    #[error("the box of pid {pid} is gone: {source}")]
    Gone {
        /// The pid.
        pid: u32,
        /// What could not be read.
        #[source]
        source: io::Error,
    },
    /// The sandbox refused or failed the exec.
    #[error("{message}")]
    Sandbox {
        /// Its `spawn_failed` cause, with the sandbox's hint.
        cause: ExitCause,
        /// Its message.
        message: String,
    },
    /// The command could not be started.
    #[error("cannot run `{program}` in the box: {source}")]
    Spawn {
        /// `argv[0]`.
        program: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl ExecError {
    /// The error as the `spawn_failed` cause of the exit frame.
    pub fn to_cause(&self) -> ExitCause {
        use stockade_proto::SpawnErrorKind as Kind;
        let (error, errno, hint) = match self {
            ExecError::Sandbox { cause, .. } => return cause.clone(),
            ExecError::Walled { .. } => (
                Kind::BoxSetup,
                None,
                "exec into walled boxes arrives with the sandbox's exec; units with isolation = \"none\" work now".to_owned(),
            ),
            ExecError::Gone { source, .. } => (
                Kind::BoxSetup,
                source.raw_os_error(),
                "the run ended; see `stockade ps` and `stockade postmortem`".to_owned(),
            ),
            ExecError::Spawn { source, program } => {
                let errno = source.raw_os_error();
                let kind = match errno {
                    Some(libc::ENOENT) => Kind::NotFound,
                    Some(libc::EACCES | libc::ENOEXEC) => Kind::NotExecutable,
                    Some(libc::EAGAIN) => Kind::ResourceLimit,
                    _ => Kind::Os,
                };
                let hint = match kind {
                    Kind::NotFound => format!("`{program}` is not in the box's PATH; give its full path inside the box"),
                    Kind::ResourceLimit => "the box is at its pids limit; the exec counts against it".to_owned(),
                    _ => "check the command".to_owned(),
                };
                (kind, errno, hint)
            }
        };
        ExitCause::SpawnFailed { error, errno, message: self.to_string(), hint }
    }
}
