//! One v1 box: the same relative directory in several hierarchies.
//!
//! v1 has no `cgroup.kill`, so a kill pass freezes the box (so nothing forks
//! while we read the pid list), SIGKILLs every pid, and thaws it so the
//! signals are delivered; the caller repeats until `cgroup.procs` is empty.
//! Exited-but-unreaped tasks are not listed in `cgroup.procs`, yet `rmdir`
//! stays `EBUSY` until the main process is reaped, so removal is retried.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::V1Hierarchy;
use stockade_proto::Limits;

use crate::SandboxError;
use crate::backend::{Cgroup, Counters, file, open_procs, signal_pids};
use crate::limits::{CFS_PERIOD_US, cfs_quota_us};
use crate::name::BoxName;
use crate::oom_watch::OomWatch;

/// v1 reports "no limit" as the largest page-aligned i64; anything this big is unlimited.
const UNLIMITED: u64 = 1 << 62;
/// How long a kill pass checks for FROZEN before killing anyway.
const FREEZE_WAIT: Duration = Duration::from_millis(1);

/// One box in every hierarchy stockade uses.
#[derive(Debug)]
pub(crate) struct V1Box {
    name: BoxName,
    dirs: Vec<(V1Hierarchy, PathBuf)>,
    /// Swap exists, so `memory.memsw.limit_in_bytes` is set with the memory limit.
    swap: bool,
}

impl V1Box {
    pub(crate) fn new(name: BoxName, dirs: Vec<(V1Hierarchy, PathBuf)>, swap: bool) -> V1Box {
        V1Box { name, dirs, swap }
    }

    /// Write the box's memory limit (`-1`: unlimited). With swap, memsw
    /// may never be below the memory limit: raising writes memsw first,
    /// lowering writes it last.
    pub(crate) fn write_memory(&self, memory: Option<u64>) -> Result<(), SandboxError> {
        let Some(dir) = self.dir("memory") else { return Ok(()) };
        let value = memory.map_or("-1".to_string(), |m| m.to_string());
        let limit = dir.join("memory.limit_in_bytes");
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if !(self.swap && memsw.exists()) {
            return file::write(&limit, &value);
        }
        let current = file::read_u64(&limit)?.unwrap_or(u64::MAX);
        if memory.unwrap_or(u64::MAX) > current {
            file::write(&memsw, &value)?;
            file::write(&limit, &value)
        } else {
            file::write(&limit, &value)?;
            file::write(&memsw, &value)
        }
    }

    /// Write the cpu quota (`None`: `-1`, no quota).
    pub(crate) fn write_cpus(&self, cpus: Option<f64>) -> Result<(), SandboxError> {
        let Some(dir) = self.dir("cpu") else {
            return match cpus {
                None => Ok(()),
                Some(cpus) => Err(SandboxError::BackendUnavailable {
                    wanted: "cgroup v1 cpu controller",
                    reason: format!(
                        "`cpus = {cpus}` needs the cpu hierarchy, which is not mounted"
                    ),
                    hint: "mount the cpu controller or remove `cpus` from the limits",
                }),
            };
        };
        file::write(&dir.join("cpu.cfs_period_us"), &CFS_PERIOD_US.to_string())?;
        let quota = cpus.map_or("-1".to_string(), |c| cfs_quota_us(c).to_string());
        file::write(&dir.join("cpu.cfs_quota_us"), &quota)
    }

    pub(crate) fn push(&mut self, hierarchy: V1Hierarchy, dir: PathBuf) {
        self.dirs.push((hierarchy, dir));
    }

    /// The box's directory in the hierarchy holding `controller`.
    pub(crate) fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(h, _)| h.controllers.iter().any(|c| c == controller))
            .map(|(_, d)| d.as_path())
    }

    /// The pids hierarchy is the authority on membership: every process joins it.
    fn procs_file(&self) -> Result<PathBuf, SandboxError> {
        self.dir("pids")
            .map(|d| d.join("cgroup.procs"))
            .ok_or_else(|| self.vanished(PathBuf::from("pids")))
    }

    fn vanished(&self, path: PathBuf) -> SandboxError {
        SandboxError::BoxVanished { name: self.name.as_str().to_string(), path }
    }

    /// Freeze and check for FROZEN for at most [`FREEZE_WAIT`], never
    /// sleeping: a kill pass runs on an async task (`kill_until_empty`), so
    /// it yields the CPU between reads instead of blocking the thread. A box
    /// that does not finish freezing in time is killed anyway: SIGKILL also
    /// reaches a task mid-freeze, and the caller repeats the pass (with an
    /// async pause) until the box is empty.
    fn freeze(&self, dir: &Path) {
        let state = dir.join("freezer.state");
        if file::write(&state, "FROZEN").is_err() {
            return;
        }
        let deadline = Instant::now() + FREEZE_WAIT;
        loop {
            match file::read(&state) {
                Ok(s) if s.trim() == "FROZEN" => return,
                Ok(_) if Instant::now() < deadline => std::thread::yield_now(),
                _ => return,
            }
        }
    }
}

impl Cgroup for V1Box {
    fn join_fds(&self) -> Result<Vec<OwnedFd>, SandboxError> {
        self.dirs.iter().map(|(_, dir)| open_procs(&dir.join("cgroup.procs"))).collect()
    }

    fn attach(&self, _pid: u32) {}

    fn procs(&self) -> Result<Vec<u32>, SandboxError> {
        let path = self.procs_file()?;
        file::read_pids(&path).map_err(|e| if e.is_not_found() { self.vanished(path) } else { e })
    }

    fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        signal_pids(&self.procs()?, signal);
        Ok(())
    }

    fn kill_pass(&self) -> Result<usize, SandboxError> {
        let freezer = self.dir("freezer");
        if let Some(dir) = freezer {
            self.freeze(dir);
        }
        let pids = self.procs();
        if let Ok(pids) = &pids {
            signal_pids(pids, libc::SIGKILL);
        }
        if let Some(dir) = freezer {
            // Thaw even if reading the pids failed: a frozen box never dies.
            let _ = file::write(&dir.join("freezer.state"), "THAWED");
        }
        pids.map(|p| p.len())
    }

    fn counters(&self) -> Counters {
        let mut c = Counters::default();
        if let Some(mem) = self.dir("memory") {
            c.oom_kills = c.take(file::read_key(&mem.join("memory.oom_control"), "oom_kill"));
            c.memory_max_hits = c.take(file::read_u64(&mem.join("memory.failcnt"))).flatten();
            c.memory_current = c.take(file::read_u64(&mem.join("memory.usage_in_bytes"))).flatten();
            c.memory_peak =
                c.take(file::read_u64(&mem.join("memory.max_usage_in_bytes"))).flatten();
            c.memory_limit = c
                .take(file::read_u64(&mem.join("memory.limit_in_bytes")))
                .flatten()
                .filter(|l| *l < UNLIMITED);
        }
        if let Some(pids) = self.dir("pids") {
            c.pids_max_hits = c.take(file::read_key(&pids.join("pids.events"), "max"));
            c.pids_current = c.take(file::read_u64(&pids.join("pids.current"))).flatten();
            c.pids_limit = c.take(file::read_u64(&pids.join("pids.max"))).flatten();
            // pids.peak arrived in v1 with 6.x kernels; older ones lack it and
            // the agent falls back to the highest pids.current it sampled.
            let peak = pids.join("pids.peak");
            if peak.exists() {
                c.pids_peak = c.take(file::read_u64(&peak)).flatten();
            }
        }
        if let Some(acct) = self.dir("cpuacct") {
            c.cpu_usec =
                c.take(file::read_u64(&acct.join("cpuacct.usage"))).flatten().map(|ns| ns / 1000);
        }
        c
    }

    fn set_limits(&self, limits: &Limits) -> Result<(), SandboxError> {
        self.write_memory(limits.memory)?;
        if let Some(dir) = self.dir("pids") {
            let pids = limits.pids.map_or("max".to_string(), |p| p.to_string());
            file::write(&dir.join("pids.max"), &pids)?;
        }
        self.write_cpus(limits.cpus)
    }

    fn oom_watch(&self) -> Result<OomWatch, SandboxError> {
        match self.dir("memory") {
            Some(mem) => {
                OomWatch::v1(&mem.join("memory.oom_control"), &mem.join("cgroup.event_control"))
            }
            None => Ok(OomWatch::Never),
        }
    }

    fn remove(&self) -> Result<(), SandboxError> {
        let mut first_error = None;
        for (_, dir) in &self.dirs {
            match std::fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_error.get_or_insert(SandboxError::io("remove", dir, e));
                }
            }
        }
        if let Some(err) = first_error {
            return Err(err);
        }
        for (h, _) in &self.dirs {
            for ancestor in self.name.ancestors() {
                // Another box still lives here (ENOTEMPTY/EBUSY): stop pruning.
                if std::fs::remove_dir(h.parent_dir.join(ancestor)).is_err() {
                    break;
                }
            }
        }
        Ok(())
    }
}
