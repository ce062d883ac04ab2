//! The backends behind one small pair of traits: a [`Backend`] makes and finds
//! boxes, a [`Cgroup`] is one box. Implementations: [`v2`] (unified
//! hierarchy), [`v1`] (one hierarchy per controller, this project's hosts) and
//! [`none`] (rlimits and a process group only). Start reading at [`Cgroup`]:
//! it is everything an [`crate::Agent`] does to its box.

pub(crate) mod file;
pub(crate) mod none;
pub(crate) mod subtree;
pub(crate) mod v1;
pub(crate) mod v2;

use std::os::fd::OwnedFd;
use std::sync::Arc;

use stockade_proto::Limits;

use crate::name::BoxName;
use crate::oom_watch::OomWatch;
use crate::{BackendKind, SandboxError};

/// Makes boxes and finds leftover ones.
pub(crate) trait Backend: Send + Sync {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// Create the box's cgroup(s) and write its limits. Fails with
    /// [`SandboxError::BoxExists`] if it is already there; leaves nothing behind on error.
    fn create(&self, name: &BoxName, limits: &Limits) -> Result<Arc<dyn Cgroup>, SandboxError>;
    /// The box of that name if its cgroup exists (daemon recovery).
    fn open(&self, name: &BoxName) -> Option<Arc<dyn Cgroup>>;
    /// stockade's parent directory in each hierarchy (none: no directories).
    fn parent_dirs(&self) -> Vec<std::path::PathBuf>;
}

/// One box.
pub(crate) trait Cgroup: Send + Sync {
    /// Fresh `cgroup.procs` fds (O_CLOEXEC) the child writes "0" to before exec.
    fn join_fds(&self) -> Result<Vec<OwnedFd>, SandboxError>;
    /// Tell the box its main process (the none backend tracks the process group).
    fn attach(&self, pid: u32);
    /// The processes in the box now.
    fn procs(&self) -> Result<Vec<u32>, SandboxError>;
    /// Send `signal` to every process in the box.
    fn signal(&self, signal: i32) -> Result<(), SandboxError>;
    /// One pass of killing everything in the box (v2: `cgroup.kill`; v1:
    /// freeze, SIGKILL each pid, thaw). Returns how many processes were seen.
    /// The caller repeats until [`Cgroup::procs`] is empty.
    fn kill_pass(&self) -> Result<usize, SandboxError>;
    /// The box's counters now; what cannot be read is in `notes`.
    fn counters(&self) -> Counters;
    /// Write `limits` to the live box (`stockade reload`): every cgroup
    /// limit is set, an unset one to "unlimited"; rlimits are fixed at spawn
    /// and not touched. The processes inside keep running.
    fn set_limits(&self, limits: &Limits) -> Result<(), SandboxError>;
    /// A watch that wakes when the box's OOM state changes.
    fn oom_watch(&self) -> Result<OomWatch, SandboxError>;
    /// Remove the box's cgroup(s), then any ancestors it leaves empty.
    /// `EBUSY` while zombies are not reaped yet: the caller retries.
    fn remove(&self) -> Result<(), SandboxError>;
}

/// Run `create` again (up to three more times) when it fails with ENOENT: a
/// concurrent removal of another box may prune a shared ancestor between our
/// `mkdir -p` and the leaf `mkdir`.
pub(crate) fn retry_on_prune<T>(
    mut create: impl FnMut() -> Result<T, SandboxError>,
) -> Result<T, SandboxError> {
    let mut attempt = 0;
    loop {
        match create() {
            Err(e) if e.is_not_found() && attempt < 3 => attempt += 1,
            other => return other,
        }
    }
}

/// A snapshot of a box's counters. Event counters (`oom_kills`,
/// `memory_max_hits`, `pids_max_hits`) are cumulative since the box was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) oom_kills: Option<u64>,
    pub(crate) memory_max_hits: Option<u64>,
    pub(crate) pids_max_hits: Option<u64>,
    pub(crate) memory_current: Option<u64>,
    pub(crate) memory_peak: Option<u64>,
    pub(crate) memory_limit: Option<u64>,
    pub(crate) pids_current: Option<u64>,
    pub(crate) pids_peak: Option<u64>,
    pub(crate) pids_limit: Option<u64>,
    pub(crate) cpu_usec: Option<u64>,
    pub(crate) notes: Vec<String>,
}

impl Counters {
    /// Keep `result`'s value, or note why it is missing.
    pub(crate) fn take<T>(&mut self, result: Result<T, SandboxError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.notes.push(err.to_string());
                None
            }
        }
    }
}

/// Send `signal` to each pid; a pid that is already gone is not an error.
pub(crate) fn signal_pids(pids: &[u32], signal: i32) {
    for &pid in pids {
        // SAFETY: kill(2) has no memory-safety preconditions. Pids come from
        // the box's own cgroup.procs, so only processes in the box are hit.
        unsafe {
            libc::kill(pid as libc::pid_t, signal);
        }
    }
}

/// Open `path` for writing, close-on-exec, for a child's `pre_exec` join.
pub(crate) fn open_procs(path: &std::path::Path) -> Result<OwnedFd, SandboxError> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| SandboxError::io("open for joining", path, e))
}
