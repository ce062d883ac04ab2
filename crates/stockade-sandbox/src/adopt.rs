//! Adoption: a daemon that restarts takes over the boxes an earlier daemon
//! left running, instead of killing them ([`Sandbox::adopt`]).
//!
//! What the store journalled when the run started — the main process's pid
//! and the run's start (unix ms) — is checked against the host now:
//!
//! - the host booted after the run started (`btime` in `/proc/stat`): nothing
//!   of the box can be left ([`AdoptError::Rebooted`]);
//! - the box's cgroup is gone: [`AdoptError::Vanished`] — unless its exit
//!   record holds a status (the earlier daemon removed the box after the
//!   end and died before the end reached its store): then an ended agent
//!   with that exact status;
//! - the pid is alive, its start (field 22 of `/proc/<pid>/stat`, ticks after
//!   boot) falls within [`START_WINDOW`] of the run's start, and
//!   `/proc/<pid>/cgroup` names this box under this sandbox's parent: it is
//!   ours. A pidfd is opened *before* the checks, so the process checked is
//!   the one held, and a reused pid cannot pass the cgroup check (a process
//!   in the box is the box's, and the box empties when its init dies);
//! - otherwise (the pid is gone, or reused by a stranger, which is never
//!   signalled): the main process has ended. Its exit record (a walled box's
//!   init writes the agent's exact status) gives the status; without one the
//!   end cannot be known ([`AdoptError::NoRecord`]).
//!
//! The adopted [`Agent`] is not our child: its exit is the pidfd turning
//! readable, its status comes from the record, its OOM and pids evidence
//! from the box's cgroup as for any agent.

use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use stockade_linux::{proc, proc_cgroup};
use stockade_proto::Limits;

use crate::agent::{Agent, AgentParts};
use crate::backend::Counters;
use crate::main_proc::MainProc;
use crate::name::BoxName;
use crate::walls::process::{WalledChild, read_record};
use crate::{Sandbox, SandboxError};

/// How far the main process's start may lie from the run's journalled
/// start: the store writes the run just before the spawn, which can take a
/// while on a loaded host.
pub const START_WINDOW: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(300));

/// Who a box's main process is, as the store journalled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Its host pid (`Agent::pid`); 0 when it never reached the store
    /// (then the box's main process is looked up in its cgroup).
    pub pid: u32,
    /// When the run started, unix milliseconds.
    pub started_at_ms: u64,
}

/// What a restarted daemon knows about a box it wants back.
#[derive(Debug, Clone)]
pub struct AdoptSpec {
    /// The box's name.
    pub box_name: String,
    /// Its main process, as journalled.
    pub identity: Identity,
    /// The init's exit record (`Walls::exit_record_path`), for walled boxes.
    pub exit_record: Option<PathBuf>,
    /// The box's limits (for the evidence).
    pub limits: Limits,
    /// How long ago the run started (for `runtime_ms`).
    pub running_for: Duration,
}

/// Why a box could not be adopted. None of these kills anything.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// The host rebooted since the box started.
    #[error(
        "box {box_name}: the host booted at {booted_at_ms} (unix ms), after the run started at {started_at_ms}"
    )]
    Rebooted {
        /// The box.
        box_name: String,
        /// When the run started.
        started_at_ms: u64,
        /// When this boot began.
        booted_at_ms: u64,
    },
    /// The box's cgroup no longer exists.
    #[error("box {box_name}: its cgroup is gone and it left no exit record")]
    Vanished {
        /// The box.
        box_name: String,
    },
    /// The main process is gone and wrote no exit record.
    #[error("box {box_name}: its main process (pid {pid}) is gone and wrote no exit record{}", if *.stranger { "; the pid now belongs to an unrelated process, which was left alone" } else { "" })]
    NoRecord {
        /// The box.
        box_name: String,
        /// The journalled pid.
        pid: u32,
        /// The pid is alive but is not the box's process.
        stranger: bool,
    },
    /// The box could not be read.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks after boot.
pub fn start_time(proc_root: &Path, pid: u32) -> io::Result<u64> {
    proc::read_pid_stat(proc_root, pid).map(|stat| stat.starttime)
}

/// When this boot began, unix milliseconds (`btime` in `/proc/stat`).
pub fn boot_time_ms(proc_root: &Path) -> io::Result<u64> {
    let stat = std::fs::read_to_string(proc_root.join("stat"))?;
    proc::boot_time_ms(&stat).ok_or_else(|| io::Error::other("no btime in /proc/stat"))
}

impl Sandbox {
    /// Take over a box an earlier daemon left (see the module doc). Must be
    /// called inside the runtime; does not block.
    pub fn adopt(&self, spec: AdoptSpec) -> Result<Agent, AdoptError> {
        let box_name = spec.box_name.clone();
        let proc_root = self.inner.config.proc_root.clone();
        let booted_at_ms =
            boot_time_ms(&proc_root).map_err(|e| SandboxError::io("read", "/proc/stat", e))?;
        let started_at_ms = spec.identity.started_at_ms;
        // btime has a resolution of a second.
        if booted_at_ms > started_at_ms + 1000 {
            return Err(AdoptError::Rebooted { box_name, started_at_ms, booted_at_ms });
        }
        let mut spec = spec;
        if spec.identity.pid == 0 {
            // The daemon died before the pid reached the store: the box's
            // main process is the one whose parent is not in the box.
            spec.identity.pid = self.main_pid(&box_name).unwrap_or(0);
        }
        let held = (spec.identity.pid != 0)
            .then(|| pidfd_open(spec.identity.pid).ok())
            .flatten()
            .filter(|_| self.is_ours(&spec, booted_at_ms));
        let name = BoxName::parse(&box_name)?;
        let record = spec.exit_record.as_deref().and_then(|p| open_record(p).ok());
        let cgroup = self
            .inner
            .backend
            .open(&name)
            .filter(|cgroup| !cgroup.procs().is_err_and(|e| e.is_not_found()));
        let Some(cgroup) = cgroup else {
            // The box is gone. With no live process of ours and a status in
            // the record, the earlier daemon removed the box after the end
            // and died before recording it: the status is still exact.
            let status = held.is_none().then(|| record.as_ref().and_then(read_record)).flatten();
            return match status {
                Some(raw) => Ok(Agent::box_gone(box_name, ExitStatus::from_raw(raw), spec.limits)),
                None => Err(AdoptError::Vanished { box_name }),
            };
        };
        let pid = spec.identity.pid;
        let stranger = held.is_none() && pid_alive(pid);
        let child = match held {
            Some(pidfd) => {
                let init = WalledChild::adopted(pid, pidfd, record).map_err(|e| {
                    SandboxError::io("watch the adopted main process of", &box_name, e)
                })?;
                MainProc::Walled { init, stdout: None, stderr: None }
            }
            None => match record.as_ref().and_then(read_record) {
                Some(raw) => MainProc::Ended(ExitStatus::from_raw(raw)),
                None => return Err(AdoptError::NoRecord { box_name, pid, stranger }),
            },
        };
        let oom = cgroup.oom_watch()?;
        let slot = self.claim_ids(pid);
        let mut agent = Agent::new(AgentParts {
            child,
            box_name,
            cgroup,
            oom,
            // The box was new when it was made: its counters started at zero.
            baseline: Counters::default(),
            limits: spec.limits,
            walls: None,
            relay: None,
        });
        agent.adopted(spec.running_for, slot);
        Ok(agent)
    }

    /// The journalled process is alive with its start time and sits in this
    /// box under this sandbox's parent.
    fn is_ours(&self, spec: &AdoptSpec, booted_at_ms: u64) -> bool {
        let proc_root = &self.inner.config.proc_root;
        let pid = spec.identity.pid;
        let Ok(ticks) = start_time(proc_root, pid) else { return false };
        let began = booted_at_ms + ticks * 1000 / proc::clock_ticks_per_second();
        let run = spec.identity.started_at_ms;
        let (before, after) =
            (START_WINDOW.0.as_millis() as u64, START_WINDOW.1.as_millis() as u64);
        if began + before < run || began > run + after {
            return false;
        }
        let Ok(cgroups) = std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup"))
        else {
            return false;
        };
        let want = format!("/{}/{}", self.inner.config.parent.trim_matches('/'), spec.box_name);
        proc_cgroup::parse(&cgroups).iter().any(|entry| entry.path.ends_with(&want))
    }

    /// The process in box `box_name` whose parent is outside it.
    fn main_pid(&self, box_name: &str) -> Option<u32> {
        let pids = self.live_pids(box_name).ok()?;
        let proc_root = &self.inner.config.proc_root;
        pids.iter().copied().find(|pid| {
            let ppid = proc::read_pid_stat(proc_root, *pid).ok().map(|stat| stat.ppid);
            ppid.is_some_and(|pp| !pids.contains(&pp))
        })
    }

    /// Mark the id slot of an adopted walled box used: its base is the host
    /// id that is 0 inside, from the init's `uid_map`.
    fn claim_ids(&self, pid: u32) -> Option<crate::walls::ids::IdSlot> {
        let kit = self.inner.walls.as_ref().ok()?;
        let map = std::fs::read_to_string(
            self.inner.config.proc_root.join(pid.to_string()).join("uid_map"),
        )
        .ok()?;
        let base = map.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            let inside: u32 = words.next()?.parse().ok()?;
            let outside: u32 = words.next()?.parse().ok()?;
            (inside == 0).then_some(outside)
        })?;
        kit.ids.claim(base)
    }
}

fn open_record(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn pid_alive(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the pid exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}
