//! The none backend: no writable cgroup tree, so a box is only the agent's
//! process group plus its rlimits. What that loses is said once, loudly, in
//! [`crate::Sandbox::warnings`]: no memory/cpu/pids limits, no counters, no
//! OOM notification, and a descendant that calls `setsid` leaves the group
//! and survives a stop.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use stockade_proto::Limits;

use crate::backend::{Backend, Cgroup, Counters};
use crate::name::BoxName;
use crate::oom_watch::OomWatch;
use crate::{BackendKind, SandboxError};

/// The none backend.
#[derive(Debug, Default)]
pub(crate) struct NoCgroups;

impl NoCgroups {
    /// The warning that names what is missing and why.
    pub(crate) fn warning(reason: &str) -> String {
        format!(
            "no cgroup backend ({reason}): boxes are process groups with rlimits only — memory, cpu and pids limits are NOT enforced, \
             OOM and pids-limit deaths cannot be told apart from other kills, and a descendant that calls setsid survives a stop; \
             run as root on a host with cgroup v2 (or v1 memory+pids hierarchies) to fix this"
        )
    }
}

impl Backend for NoCgroups {
    fn kind(&self) -> BackendKind {
        BackendKind::None
    }

    fn create(&self, _name: &BoxName, _limits: &Limits) -> Result<Arc<dyn Cgroup>, SandboxError> {
        Ok(Arc::new(ProcessGroup::default()))
    }

    fn open(&self, _name: &BoxName) -> Option<Arc<dyn Cgroup>> {
        // A process group leaves no trace by name; nothing to recover.
        None
    }

    fn parent_dirs(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

/// A box that is only a process group, led by the main process.
#[derive(Debug, Default)]
pub(crate) struct ProcessGroup {
    pgid: AtomicU32,
}

impl ProcessGroup {
    fn group(&self) -> Option<i32> {
        match self.pgid.load(Ordering::Acquire) {
            0 => None,
            pgid => Some(pgid as i32),
        }
    }
}

impl Cgroup for ProcessGroup {
    fn join_fds(&self) -> Result<Vec<OwnedFd>, SandboxError> {
        Ok(Vec::new())
    }

    fn attach(&self, pid: u32) {
        self.pgid.store(pid, Ordering::Release);
    }

    fn procs(&self) -> Result<Vec<u32>, SandboxError> {
        // Listing a group's members needs a /proc walk; "the group still has
        // a member" is all a stop needs, and kill(-pgid, 0) answers that.
        Ok(match self.group() {
            // SAFETY: kill(2) with signal 0 only checks for existence.
            Some(pgid) if unsafe { libc::kill(-pgid, 0) } == 0 => vec![pgid as u32],
            _ => Vec::new(),
        })
    }

    fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        if let Some(pgid) = self.group() {
            // SAFETY: kill(2) has no memory-safety preconditions; the group is
            // the agent's own (process_group(0) at spawn).
            unsafe { libc::kill(-pgid, signal) };
        }
        Ok(())
    }

    fn kill_pass(&self) -> Result<usize, SandboxError> {
        let members = self.procs()?.len();
        self.signal(libc::SIGKILL)?;
        Ok(members)
    }

    fn counters(&self) -> Counters {
        Counters {
            notes: vec!["no cgroup backend: no counters".to_string()],
            ..Counters::default()
        }
    }

    fn set_limits(&self, _limits: &Limits) -> Result<(), SandboxError> {
        Err(SandboxError::BackendUnavailable {
            wanted: "a cgroup backend",
            reason: "the none backend has no cgroup whose limits could change".to_string(),
            hint: "restart the unit (`stockade restart NAME`) for new rlimits; cgroup limits need cgroup v1 or v2",
        })
    }

    fn oom_watch(&self) -> Result<OomWatch, SandboxError> {
        Ok(OomWatch::Never)
    }

    fn remove(&self) -> Result<(), SandboxError> {
        Ok(())
    }
}
