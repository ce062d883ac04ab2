//! The process an [`crate::Agent`] waits on: the agent itself (a tokio
//! `Child`, isolation "none") or a walled box's init (a pidfd, with the
//! agent's status from the init's exit record).

use std::io;
use std::process::ExitStatus;

use tokio::process::{Child, ChildStderr, ChildStdout};

use crate::walls::process::WalledChild;

/// The main process of a box.
#[derive(Debug)]
pub(crate) enum MainProc {
    /// The agent, spawned through `Command`.
    Plain(Child),
    /// A walled box's init.
    Walled { init: WalledChild, stdout: Option<ChildStdout>, stderr: Option<ChildStderr> },
    /// An adopted box whose main process had already ended: its status,
    /// from the exit record.
    Ended(ExitStatus),
    /// Moved out while the agent is dropped.
    Gone,
}

impl MainProc {
    pub(crate) fn pid(&self) -> u32 {
        match self {
            MainProc::Plain(child) => child.id().unwrap_or(0),
            MainProc::Walled { init, .. } => init.pid(),
            MainProc::Ended(_) | MainProc::Gone => 0,
        }
    }

    pub(crate) fn take_stdout(&mut self) -> Option<ChildStdout> {
        match self {
            MainProc::Plain(child) => child.stdout.take(),
            MainProc::Walled { stdout, .. } => stdout.take(),
            MainProc::Ended(_) | MainProc::Gone => None,
        }
    }

    pub(crate) fn take_stderr(&mut self) -> Option<ChildStderr> {
        match self {
            MainProc::Plain(child) => child.stderr.take(),
            MainProc::Walled { stderr, .. } => stderr.take(),
            MainProc::Ended(_) | MainProc::Gone => None,
        }
    }

    /// Wait for the exit (for a walled box: the agent's exact status). Cancel-safe.
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            MainProc::Plain(child) => child.wait().await,
            MainProc::Walled { init, .. } => init.wait().await,
            MainProc::Ended(status) => Ok(*status),
            MainProc::Gone => Err(io::Error::other("the main process was dropped")),
        }
    }

    /// The walled init, if this is one.
    pub(crate) fn walled(&self) -> Option<&WalledChild> {
        match self {
            MainProc::Walled { init, .. } => Some(init),
            _ => None,
        }
    }
}
