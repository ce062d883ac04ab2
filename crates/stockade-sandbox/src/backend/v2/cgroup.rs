//! One v2 box: a single directory. Killing is one write to `cgroup.kill`
//! (kernel 5.14+; older kernels fall back to signalling each listed pid).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use stockade_proto::Limits;

use crate::SandboxError;
use crate::backend::{Cgroup, Counters, file, open_procs, signal_pids};
use crate::limits::{CFS_PERIOD_US, cfs_quota_us};
use crate::name::BoxName;
use crate::oom_watch::OomWatch;

/// One box in the unified hierarchy.
#[derive(Debug)]
pub(crate) struct V2Box {
    name: BoxName,
    parent_dir: PathBuf,
    dir: PathBuf,
}

impl V2Box {
    pub(crate) fn new(name: BoxName, parent_dir: PathBuf) -> V2Box {
        let dir = parent_dir.join(name.as_str());
        V2Box { name, parent_dir, dir }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Cgroup for V2Box {
    fn join_fds(&self) -> Result<Vec<OwnedFd>, SandboxError> {
        Ok(vec![open_procs(&self.dir.join("cgroup.procs"))?])
    }

    fn attach(&self, _pid: u32) {}

    fn procs(&self) -> Result<Vec<u32>, SandboxError> {
        let path = self.dir.join("cgroup.procs");
        file::read_pids(&path).map_err(|e| {
            if e.is_not_found() {
                SandboxError::BoxVanished { name: self.name.as_str().to_string(), path }
            } else {
                e
            }
        })
    }

    fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        signal_pids(&self.procs()?, signal);
        Ok(())
    }

    fn kill_pass(&self) -> Result<usize, SandboxError> {
        let pids = self.procs()?;
        let kill = self.dir.join("cgroup.kill");
        if kill.exists() {
            file::write(&kill, "1")?;
        } else {
            signal_pids(&pids, libc::SIGKILL);
        }
        Ok(pids.len())
    }

    fn counters(&self) -> Counters {
        let d = &self.dir;
        let mut c = Counters::default();
        let events = c.take(file::read(&d.join("memory.events")));
        if let Some(events) = events {
            c.oom_kills = file::keyed(&events, "oom_kill");
            c.memory_max_hits = file::keyed(&events, "max");
        }
        c.pids_max_hits = c.take(file::read_key(&d.join("pids.events"), "max"));
        c.memory_current = c.take(file::read_u64(&d.join("memory.current"))).flatten();
        c.memory_peak = c.take(file::read_u64(&d.join("memory.peak"))).flatten();
        c.memory_limit = c.take(file::read_u64(&d.join("memory.max"))).flatten();
        c.pids_current = c.take(file::read_u64(&d.join("pids.current"))).flatten();
        let peak = d.join("pids.peak");
        if peak.exists() {
            c.pids_peak = c.take(file::read_u64(&peak)).flatten();
        }
        c.pids_limit = c.take(file::read_u64(&d.join("pids.max"))).flatten();
        c.cpu_usec = c.take(file::read_key(&d.join("cpu.stat"), "usage_usec"));
        c
    }

    fn set_limits(&self, limits: &Limits) -> Result<(), SandboxError> {
        // A limit that is set is written (a missing file is the error); an
        // unset one goes back to `max` where its controller is enabled.
        let put = |name: &str, value: Option<String>| {
            let path = self.dir.join(name);
            match value {
                Some(value) => file::write(&path, &value),
                None if path.exists() => file::write(&path, "max"),
                None => Ok(()),
            }
        };
        put("memory.max", limits.memory.map(|m| m.to_string()))?;
        put("memory.high", limits.memory_high.map(|m| m.to_string()))?;
        put("pids.max", limits.pids.map(|p| p.to_string()))?;
        let cpu = limits.cpus.map(|c| format!("{} {CFS_PERIOD_US}", cfs_quota_us(c)));
        let cpu_path = self.dir.join("cpu.max");
        match cpu {
            Some(cpu) => file::write(&cpu_path, &cpu),
            None if cpu_path.exists() => file::write(&cpu_path, &format!("max {CFS_PERIOD_US}")),
            None => Ok(()),
        }
    }

    fn oom_watch(&self) -> Result<OomWatch, SandboxError> {
        OomWatch::v2(&self.dir.join("memory.events"))
    }

    fn remove(&self) -> Result<(), SandboxError> {
        match std::fs::remove_dir(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SandboxError::io("remove", &self.dir, e)),
        }
        for ancestor in self.name.ancestors() {
            if std::fs::remove_dir(self.parent_dir.join(ancestor)).is_err() {
                break;
            }
        }
        Ok(())
    }
}
