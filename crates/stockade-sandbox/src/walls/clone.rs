//! The parent's side of a walled start, on the spawner thread: `clone3` with
//! the namespace flags and `CLONE_PIDFD`, the id maps written while the
//! child waits on the sync pipe, then a blocking read of the error pipe
//! until it closes (the agent exec'd: success) or says which step failed.
//!
//! The error pipe's write end reaches the agent's own exec: the child holds
//! it on fd 3 through the exec of the init, the init keeps it open (close-on-
//! exec) in the agent's fork, so EOF means the agent's program is running,
//! 4 bytes are the errno of the agent's exec (reported by the init), and 12
//! bytes are `[stage, index, errno]` from the child ([`super::child`]).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::child::{self, ChildPlan, Stage};
use super::sys::{self, Errno};

/// One start, ready to clone.
pub(crate) struct Launch {
    pub(crate) plan: ChildPlan,
    pub(crate) clone_flags: u64,
    /// Spawn: the child's uid and gid maps, written while it waits.
    pub(crate) id_map: Option<IdMap>,
    /// The child's ends (stdio, error write end, record, sync read end,
    /// cgroup joins, idmapped trees): closed in the parent after the clone.
    pub(crate) child_side: Vec<OwnedFd>,
    pub(crate) sync_write: Option<OwnedFd>,
    pub(crate) err_read: OwnedFd,
    /// What a failure message names the plan's root steps by.
    pub(crate) describe_op: fn(&ChildPlan, u32) -> String,
}

/// How a new box's user namespace is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdMap {
    /// `0 <base> 65536`: one slot of the id range (a root daemon).
    Range(u32),
    /// `0 <uid> 1` and `0 <gid> 1`, with `setgroups` denied first: the only
    /// maps a daemon without `CAP_SETUID` may write (user_namespaces(7)).
    Own {
        /// The daemon's effective uid.
        uid: u32,
        /// The daemon's effective gid.
        gid: u32,
    },
}

impl IdMap {
    /// Write the maps of process `pid`.
    fn write(self, pid: i32) -> io::Result<()> {
        let (uid_map, gid_map) = match self {
            IdMap::Range(base) => {
                let map = format!("0 {base} {}\n", super::IDS_PER_BOX);
                (map.clone(), map)
            }
            IdMap::Own { uid, gid } => {
                std::fs::write(format!("/proc/{pid}/setgroups"), "deny")?;
                (format!("0 {uid} 1\n"), format!("0 {gid} 1\n"))
            }
        };
        std::fs::write(format!("/proc/{pid}/uid_map"), uid_map)?;
        std::fs::write(format!("/proc/{pid}/gid_map"), gid_map)
    }
}

/// A started process: its host pid and a pidfd.
#[derive(Debug)]
pub(crate) struct Launched {
    pub(crate) pid: u32,
    pub(crate) pidfd: OwnedFd,
}

/// Why a start failed (the process, if any, is reaped).
#[derive(Debug)]
pub(crate) enum LaunchError {
    /// `clone3` itself.
    Clone(Errno),
    /// Writing the id maps.
    Maps(io::Error),
    /// A step of the child.
    Child { what: String, errno: Errno },
    /// The exec of the agent's program (reported by the init).
    Agent(Errno),
}

impl LaunchError {
    pub(crate) fn errno(&self) -> Errno {
        match self {
            LaunchError::Clone(e) | LaunchError::Agent(e) | LaunchError::Child { errno: e, .. } => {
                *e
            }
            LaunchError::Maps(e) => e.raw_os_error().unwrap_or(libc::EIO),
        }
    }
}

/// Move `fd` to a number ≥ 16 (close-on-exec), so the child's `dup2` onto
/// 0–4 never lands on a source it still needs.
pub(crate) fn high(fd: impl Into<OwnedFd>) -> io::Result<OwnedFd> {
    let fd: OwnedFd = fd.into();
    if fd.as_raw_fd() >= 16 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 16)?)
}

/// A pipe with both ends ≥ 16 and close-on-exec: `(read, write)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    Ok((high(r)?, high(w)?))
}

/// Clone, map, release, and wait for the agent's exec.
pub(crate) fn launch(launch: Launch) -> Result<Launched, LaunchError> {
    let Launch { plan, clone_flags, id_map, child_side, sync_write, err_read, describe_op } =
        launch;
    // SAFETY: the child runs `child::run` only, which is async-signal-safe
    // and never returns.
    let (pid, pidfd) = unsafe { sys::clone_pidfd(clone_flags) }.map_err(LaunchError::Clone)?;
    if pid == 0 {
        child::run(&plan);
    }
    // SAFETY: clone3 handed us this fresh pidfd.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    drop(child_side);
    let launched = Launched { pid: pid as u32, pidfd };
    if let Some(Err(err)) = id_map.map(|map| map.write(pid)) {
        // The child may have failed first (its report says why).
        let _ = sys::pidfd_send_signal(launched.pidfd.as_raw_fd(), libc::SIGKILL);
        let report = read_report(&err_read, &plan, describe_op);
        reap(&launched.pidfd);
        return Err(report.err().unwrap_or(LaunchError::Maps(err)));
    }
    if let Some(sync) = sync_write {
        let _ = sys::write_all(sync.as_raw_fd(), b"1");
    }
    match read_report(&err_read, &plan, describe_op) {
        Ok(()) => Ok(launched),
        Err(err) => {
            reap(&launched.pidfd);
            Err(err)
        }
    }
}

fn read_report(
    err_read: &OwnedFd,
    plan: &ChildPlan,
    describe_op: fn(&ChildPlan, u32) -> String,
) -> Result<(), LaunchError> {
    let mut msg = [0u8; 12];
    let n = sys::read_full(err_read.as_raw_fd(), &mut msg)
        .map_err(|e| LaunchError::Child { what: "read the child's report".into(), errno: e })?;
    let word = |i: usize| u32::from_ne_bytes([msg[i], msg[i + 1], msg[i + 2], msg[i + 3]]);
    match n {
        0 => Ok(()),
        4 => Err(LaunchError::Agent(word(0) as i32)),
        12 => {
            let stage = Stage::from_u32(word(0));
            let what = match stage {
                Some(Stage::Root) => {
                    format!("{}: {}", Stage::Root.describe(), describe_op(plan, word(4)))
                }
                Some(Stage::Bounding) if word(4) != 0 => {
                    format!("drop capability {} from the bounding set", word(4))
                }
                Some(s) => s.describe().to_string(),
                None => format!("unknown step {}", word(0)),
            };
            Err(LaunchError::Child { what, errno: word(8) as i32 })
        }
        n => Err(LaunchError::Child { what: format!("a {n}-byte report"), errno: libc::EIO }),
    }
}

/// Wait (blocking) for a process that is about to exit.
pub(crate) fn reap(pidfd: &OwnedFd) {
    let _ = rustix::process::waitid(
        rustix::process::WaitId::PidFd(pidfd.as_fd()),
        rustix::process::WaitIdOptions::EXITED,
    );
}

/// Open (create, truncate) the exit record; `(daemon's read fd, child's dup)`.
pub(crate) fn exit_record(path: &std::path::Path) -> io::Result<(File, OwnedFd)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    let child = high(file.try_clone()?)?;
    Ok((file, child))
}

/// The raw fds of a list, for the plan.
pub(crate) fn raws(fds: &[OwnedFd]) -> Vec<RawFd> {
    fds.iter().map(|f| f.as_raw_fd()).collect()
}
