//! [`HostFacts`]: one read of every host number the doctor, the planner,
//! admission, EAGAIN explanations and post-mortem snapshots use.
//!
//! Every field is a [`Probe`]: a container hiding a file makes that one fact
//! unknown, with the reason, and leaves the others intact. Parsers live in
//! one file per source (`tasks.rs` for loadavg, `meminfo.rs`, ...); this file
//! only wires paths to parsers.

mod cgroup;
mod inotify;
mod meminfo;
mod pressure;
mod rlimits;

pub use cgroup::{CgroupFacts, CgroupMode, CgroupVersion, Hierarchy, REQUIRED_CONTROLLERS};
pub use inotify::{InotifyLimits, InotifyUsage};
pub use meminfo::Meminfo;
pub use pressure::{Pressure, PressureError, PsiLine, PsiResource, read_pressure};
pub use rlimits::{ProcessLimits, Rlimit};
pub use stockade_linux::proc::Tasks;

use crate::HostRoot;
use crate::probe::{Probe, Unknown, read_text, read_u64};
use stockade_proto::HostSnapshot;

/// How much work [`HostFacts::read_with`] may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Only single-file reads: cheap enough for admission and post-mortems.
    Quick,
    /// Also walk every process's fds to count inotify use (`stockade doctor`).
    Deep,
}

/// `fs.file-nr`: file handles allocated host-wide, and `fs.file-max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileNr {
    /// Allocated file handles.
    pub allocated: u64,
    /// `fs.file-max` (the third field of `file-nr`).
    pub max: u64,
}

/// Every host number stockade measures, each known or unknown-with-a-reason.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFacts {
    /// Tasks alive (threads, every one holding a pid), from `/proc/loadavg`.
    pub tasks: Probe<Tasks>,
    /// `kernel.threads-max`.
    pub threads_max: Probe<u64>,
    /// `kernel.pid_max`.
    pub pid_max: Probe<u64>,
    /// `fs.file-nr`.
    pub file_nr: Probe<FileNr>,
    /// `fs.nr_open`: the ceiling of any `RLIMIT_NOFILE`.
    pub nr_open: Probe<u64>,
    /// inotify limits.
    pub inotify_limits: Probe<InotifyLimits>,
    /// inotify use of the busiest uid (only on a [`Depth::Deep`] read).
    pub inotify_usage: Probe<InotifyUsage>,
    /// `/proc/meminfo`.
    pub memory: Probe<Meminfo>,
    /// `vm.overcommit_memory` (0 heuristic, 1 always, 2 strict).
    pub overcommit_memory: Probe<u64>,
    /// PSI.
    pub pressure: Probe<Pressure>,
    /// The daemon's rlimits (`/proc/self/limits`).
    pub limits: Probe<ProcessLimits>,
    /// The daemon's real uid (`/proc/self/status`).
    pub uid: Probe<u32>,
    /// The cgroup layout.
    pub cgroup: Probe<CgroupFacts>,
    /// Online CPUs (`/sys/devices/system/cpu/online`).
    pub cpus: Probe<u32>,
    /// Host-wide OOM kills since boot (`/proc/vmstat` `oom_kill`).
    pub oom_kills: Probe<u64>,
}

impl HostFacts {
    /// A quick read of everything through `root` (no fd walk).
    pub fn read(root: &HostRoot) -> HostFacts {
        HostFacts::read_with(root, Depth::Quick)
    }

    /// Read everything through `root`, walking fds when `depth` is [`Depth::Deep`].
    pub fn read_with(root: &HostRoot, depth: Depth) -> HostFacts {
        let loadavg = root.proc.join("loadavg");
        HostFacts {
            tasks: read_text(root, &loadavg).and_then(|t| {
                stockade_linux::proc::parse_loadavg(&t).ok_or_else(|| {
                    Unknown::new(
                        root.display(&loadavg),
                        format!("no running/total field in {:?}", t.trim()),
                    )
                })
            }),
            threads_max: read_u64(root, &root.sysctl_path("kernel.threads-max")),
            pid_max: read_u64(root, &root.sysctl_path("kernel.pid_max")),
            file_nr: read_file_nr(root),
            nr_open: read_u64(root, &root.sysctl_path("fs.nr_open")),
            inotify_limits: inotify::read_limits(root),
            inotify_usage: match depth {
                Depth::Deep => inotify::scan_usage(root),
                Depth::Quick => Err(Unknown::new("inotify usage", "not counted on a quick read")),
            },
            memory: {
                let path = root.proc.join("meminfo");
                read_text(root, &path).and_then(|t| {
                    meminfo::parse_meminfo(&t).map_err(|e| Unknown::new(root.display(&path), e))
                })
            },
            overcommit_memory: read_u64(root, &root.sysctl_path("vm.overcommit_memory")),
            pressure: read_pressure(&root.proc).map_err(|e| {
                Unknown::new(
                    "PSI",
                    e.to_string().replace(&root.proc.display().to_string(), "/proc"),
                )
            }),
            limits: read_text(root, &root.proc.join("self/limits"))
                .map(|t| rlimits::parse_limits(&t)),
            uid: {
                let path = root.proc.join("self/status");
                read_text(root, &path).and_then(|t| {
                    rlimits::parse_uid(&t)
                        .ok_or_else(|| Unknown::new(root.display(&path), "no Uid: line"))
                })
            },
            cgroup: cgroup::read_cgroup(root),
            cpus: read_cpus(root),
            oom_kills: read_oom_kills(root),
        }
    }

    /// The smaller of `kernel.threads-max` and `kernel.pid_max`, with its name:
    /// every thread needs a pid, so whichever is lower caps tasks.
    pub fn task_ceiling(&self) -> Option<(TaskCeiling, u64)> {
        match (self.threads_max.as_ref().ok(), self.pid_max.as_ref().ok()) {
            (Some(&t), Some(&p)) if p < t => Some((TaskCeiling::PidMax, p)),
            (Some(&t), _) => Some((TaskCeiling::ThreadsMax, t)),
            (None, Some(&p)) => Some((TaskCeiling::PidMax, p)),
            (None, None) => None,
        }
    }

    /// The numbers a post-mortem stores, so it can tell a box's own limit
    /// from a host that ran out.
    pub fn snapshot(&self) -> HostSnapshot {
        let pressure = self.pressure.as_ref().ok();
        let tasks = self.tasks.as_ref().ok().map(|t| t.total);
        HostSnapshot {
            mem_available: self.memory.as_ref().ok().map(|m| m.available),
            mem_total: self.memory.as_ref().ok().map(|m| m.total),
            psi_memory_some: pressure.map(|p| p.memory.some.avg10),
            psi_memory_full: pressure.and_then(|p| p.memory.full.map(|f| f.avg10)),
            psi_cpu_some: pressure.map(|p| p.cpu.some.avg10),
            threads: tasks,
            threads_max: self.threads_max.as_ref().ok().copied(),
            tasks,
            pid_max: self.pid_max.as_ref().ok().copied(),
            host_oom_kills: self.oom_kills.as_ref().ok().copied(),
        }
    }
}

/// Which kernel limit caps the number of tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskCeiling {
    /// `kernel.threads-max`.
    ThreadsMax,
    /// `kernel.pid_max`.
    PidMax,
}

impl TaskCeiling {
    /// The sysctl name.
    pub fn sysctl(self) -> &'static str {
        match self {
            TaskCeiling::ThreadsMax => "kernel.threads-max",
            TaskCeiling::PidMax => "kernel.pid_max",
        }
    }
}

fn read_file_nr(root: &HostRoot) -> Probe<FileNr> {
    let path = root.sysctl_path("fs.file-nr");
    let text = read_text(root, &path)?;
    let fields: Vec<u64> = text.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    match fields[..] {
        [allocated, _unused, max] => Ok(FileNr { allocated, max }),
        _ => Err(Unknown::new(
            root.display(&path),
            format!("expected 3 numbers, got {:?}", text.trim()),
        )),
    }
}

/// `0-1`, `0,2-3`: count the CPUs in a cpulist.
fn read_cpus(root: &HostRoot) -> Probe<u32> {
    let path = root.sys.join("devices/system/cpu/online");
    let text = read_text(root, &path)?;
    let mut count = 0u32;
    for part in text.trim().split(',') {
        let range = match part.split_once('-') {
            Some((a, b)) => a.parse::<u32>().ok().zip(b.parse::<u32>().ok()),
            None => part.parse::<u32>().ok().map(|a| (a, a)),
        };
        let (a, b) = range.filter(|(a, b)| a <= b).ok_or_else(|| {
            Unknown::new(root.display(&path), format!("not a cpu list: {:?}", text.trim()))
        })?;
        count += b - a + 1;
    }
    Ok(count)
}

fn read_oom_kills(root: &HostRoot) -> Probe<u64> {
    let path = root.proc.join("vmstat");
    let text = read_text(root, &path)?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill ").and_then(|v| v.trim().parse().ok()))
        .ok_or_else(|| {
            Unknown::new(root.display(&path), "no oom_kill row (kernel older than 4.13)")
        })
}
