//! "Resource temporarily unavailable", explained — the one EAGAIN explainer.
//! The kernel refuses a new task (fork, clone, thread) with EAGAIN for four
//! reasons and says only "try again": the box's `pids.max`, the uid's
//! `RLIMIT_NPROC`, `kernel.threads-max` or `kernel.pid_max`. The field
//! report spent a day on the wrong one (nproc) before finding threads-max.
//!
//! [`TaskFacts::gather`] reads every counter against its ceiling at the
//! moment of the failure; [`TaskFacts::bound`] is the typed decision (which
//! limit, if any, is at its edge); [`TaskFacts::hint`] says it with the fix.

use std::path::Path;

use rustix::process::{Resource, getrlimit, getuid};

use crate::proc::{parse_loadavg, user_tasks};

/// A counter and its ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Use {
    /// In use.
    pub used: u64,
    /// The ceiling.
    pub limit: u64,
}

impl Use {
    /// At the ceiling (`slack_percent` 0, for exact per-box and per-user
    /// counts), or within that many percent of it and at least 2 (host-wide
    /// counts that other processes move while we look).
    fn binds(&self, slack_percent: u64) -> bool {
        let slack = if slack_percent == 0 { 0 } else { (self.limit * slack_percent / 100).max(2) };
        self.used.saturating_add(slack) >= self.limit
    }

    fn share(&self) -> f64 {
        if self.limit == 0 { 1.0 } else { self.used as f64 / self.limit as f64 }
    }
}

/// Which limit refused the new task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskLimit {
    /// The box's cgroup `pids.max`.
    BoxPids,
    /// `RLIMIT_NPROC` of this uid (root is exempt).
    Nproc {
        /// The uid whose tasks count.
        uid: u32,
    },
    /// `kernel.threads-max`, host-wide.
    ThreadsMax,
    /// `kernel.pid_max`, host-wide.
    PidMax,
}

/// Everything the EAGAIN decision looks at; `None` = unknown or unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskFacts {
    /// The box's `pids.current` against its `pids.max`.
    pub box_pids: Option<Use>,
    /// Tasks of the daemon's uid against its RLIMIT_NPROC (not for root, whom the kernel exempts).
    pub nproc: Option<(u32, Use)>,
    /// Tasks on the host against `kernel.threads-max`.
    pub threads: Option<Use>,
    /// Tasks on the host against `kernel.pid_max`.
    pub pid_max: Option<Use>,
}

impl TaskFacts {
    /// Read the host-wide facts from `proc_root` (`loadavg`,
    /// `sys/kernel/{threads-max,pid_max}`, this uid's tasks and
    /// `RLIMIT_NPROC`); `box_pids` from the box's counters. Reads files: call
    /// it off the async workers.
    pub fn gather(proc_root: &Path, box_pids: Option<Use>) -> TaskFacts {
        let read = |rel: &str| std::fs::read_to_string(proc_root.join(rel)).ok();
        let tasks = read("loadavg").as_deref().and_then(parse_loadavg).map(|t| t.total);
        let number = |rel: &str| read(rel).and_then(|s| s.trim().parse::<u64>().ok());
        let uid = getuid().as_raw();
        let nproc = match (uid, getrlimit(Resource::Nproc).current) {
            (0, _) | (_, None) => None,
            (uid, Some(limit)) => Some((uid, Use { used: user_tasks(proc_root, uid), limit })),
        };
        TaskFacts {
            box_pids,
            nproc,
            threads: tasks
                .zip(number("sys/kernel/threads-max"))
                .map(|(used, limit)| Use { used, limit }),
            pid_max: tasks
                .zip(number("sys/kernel/pid_max"))
                .map(|(used, limit)| Use { used, limit }),
        }
    }

    /// The limit at its edge, most specific first (the box, the uid, the
    /// host's threads, the host's pids); `None` when none is.
    pub fn bound(&self) -> Option<TaskLimit> {
        if self.box_pids.is_some_and(|u| u.binds(0)) {
            return Some(TaskLimit::BoxPids);
        }
        if let Some((uid, _)) = self.nproc.filter(|(_, u)| u.binds(0)) {
            return Some(TaskLimit::Nproc { uid });
        }
        if self.threads.is_some_and(|u| u.binds(2)) {
            return Some(TaskLimit::ThreadsMax);
        }
        if self.pid_max.is_some_and(|u| u.binds(2)) {
            return Some(TaskLimit::PidMax);
        }
        None
    }

    /// The counter behind `limit`.
    pub fn usage(&self, limit: TaskLimit) -> Option<Use> {
        match limit {
            TaskLimit::BoxPids => self.box_pids,
            TaskLimit::Nproc { .. } => self.nproc.map(|(_, u)| u),
            TaskLimit::ThreadsMax => self.threads,
            TaskLimit::PidMax => self.pid_max,
        }
    }

    /// One sentence: which limit bound and how to raise it; or, when none
    /// is at its edge, every count and the closest one.
    pub fn hint(&self) -> String {
        if let Some(limit) = self.bound() {
            let u = self.usage(limit).unwrap_or(Use { used: 0, limit: 0 });
            return match limit {
                TaskLimit::BoxPids => format!(
                    "the box's pids.max bound: {} of {} tasks in use; raise `pids` in the limits or find what forks so much",
                    u.used, u.limit
                ),
                TaskLimit::Nproc { uid } => format!(
                    "RLIMIT_NPROC of uid {uid} bound: {} of {} tasks in use; raise `nproc` for that user in /etc/security/limits.conf (e.g. `agent soft nproc 65536`, note the spelling `nproc`) or run fewer agents",
                    u.used, u.limit
                ),
                TaskLimit::ThreadsMax => format!(
                    "kernel.threads-max bound: {} of {} threads in use; raise it (`{}`) or run fewer agents",
                    u.used,
                    u.limit,
                    sysctl_fix("kernel.threads-max", recommend_tasks(u.used, 0x3fff_ffff))
                ),
                TaskLimit::PidMax => format!(
                    "kernel.pid_max bound: {} of {} pids in use; raise it (`{}`) or run fewer agents",
                    u.used,
                    u.limit,
                    sysctl_fix("kernel.pid_max", recommend_tasks(u.used, 4_194_304))
                ),
            };
        }
        let show =
            |u: Option<Use>| u.map_or("unknown".to_string(), |u| format!("{}/{}", u.used, u.limit));
        let known = [
            ("box pids", self.box_pids),
            ("nproc", self.nproc.map(|(_, u)| u)),
            ("threads", self.threads),
            ("pid_max", self.pid_max),
        ];
        let closest = known
            .iter()
            .filter_map(|(name, u)| Some((name, (*u)?)))
            .max_by(|a, b| a.1.share().total_cmp(&b.1.share()))
            .map(|(name, u)| format!("; the closest was {name} at {:.0}%", u.share() * 100.0))
            .unwrap_or_default();
        format!(
            "the kernel refused a new task but no limit is at its ceiling now (box pids {}, nproc {}, threads {}, pid_max {}){closest}; it was probably a transient peak — retry, and run `stockade doctor`",
            show(self.box_pids),
            show(self.nproc.map(|(_, u)| u)),
            show(self.threads),
            show(self.pid_max)
        )
    }
}

/// The command that sets a sysctl now and on every boot.
pub fn sysctl_fix(name: &str, value: u64) -> String {
    format!("sysctl -w {name}={value} && echo '{name} = {value}' >> /etc/sysctl.d/90-stockade.conf")
}

/// A value to recommend for a task limit: at least 65536 (the field report's
/// fix), at least four times what is in use, rounded to a power of two, never
/// above what the kernel accepts.
pub fn recommend_tasks(in_use: u64, kernel_max: u64) -> u64 {
    in_use.saturating_mul(4).max(65536).next_power_of_two().min(kernel_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(used: u64, limit: u64) -> Option<Use> {
        Some(Use { used, limit })
    }

    const IDLE: TaskFacts = TaskFacts {
        box_pids: u_const(3, 64),
        nproc: None,
        threads: u_const(90, 192_730),
        pid_max: u_const(90, 32_768),
    };

    const fn u_const(used: u64, limit: u64) -> Option<Use> {
        Some(Use { used, limit })
    }

    #[test]
    fn each_limit_is_named_when_it_binds() {
        let cases = [
            (
                TaskFacts { box_pids: u(64, 64), ..IDLE },
                Some(TaskLimit::BoxPids),
                "pids.max bound: 64 of 64",
            ),
            (
                TaskFacts { nproc: Some((1000, Use { used: 4096, limit: 4096 })), ..IDLE },
                Some(TaskLimit::Nproc { uid: 1000 }),
                "RLIMIT_NPROC of uid 1000",
            ),
            (
                TaskFacts { threads: u(6330, 6337), ..IDLE },
                Some(TaskLimit::ThreadsMax),
                "sysctl -w kernel.threads-max=65536",
            ),
            (
                TaskFacts { pid_max: u(32_700, 32_768), ..IDLE },
                Some(TaskLimit::PidMax),
                "kernel.pid_max bound",
            ),
            (IDLE, None, "no limit is at its ceiling"),
            (TaskFacts::default(), None, "box pids unknown"),
        ];
        for (facts, bound, words) in cases {
            assert_eq!(facts.bound(), bound, "{facts:?}");
            let hint = facts.hint();
            assert!(hint.contains(words), "{facts:?}: {hint}");
        }
    }

    #[test]
    fn the_box_beats_host_limits_and_the_closest_is_named() {
        let all_full = TaskFacts {
            box_pids: u(64, 64),
            nproc: Some((1000, Use { used: 10, limit: 10 })),
            threads: u(100, 100),
            pid_max: u(100, 100),
        };
        assert_eq!(all_full.bound(), Some(TaskLimit::BoxPids));
        let near = TaskFacts { threads: u(5279, 6337), ..IDLE };
        assert_eq!(near.bound(), None);
        assert!(near.hint().contains("the closest was threads at 83%"), "{}", near.hint());
    }

    #[test]
    fn host_counts_are_read_from_proc() {
        let proc = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(proc.path().join("sys/kernel")).unwrap();
        std::fs::write(proc.path().join("loadavg"), "0.05 0.32 0.18 1/32760 8509\n").unwrap();
        std::fs::write(proc.path().join("sys/kernel/threads-max"), "192730\n").unwrap();
        std::fs::write(proc.path().join("sys/kernel/pid_max"), "32768\n").unwrap();
        let facts = TaskFacts::gather(proc.path(), u(1, 64));
        assert_eq!(facts.pid_max, u(32_760, 32_768));
        assert_eq!(facts.threads, u(32_760, 192_730));
        assert_eq!(facts.bound(), Some(TaskLimit::PidMax));
        assert!(facts.hint().contains("kernel.pid_max bound: 32760 of 32768"), "{}", facts.hint());
        let full_box = TaskFacts::gather(proc.path(), u(64, 64));
        assert_eq!(full_box.bound(), Some(TaskLimit::BoxPids));
        let empty = TaskFacts::gather(&proc.path().join("missing"), None);
        assert_eq!((empty.threads, empty.pid_max), (None, None));
    }

    #[test]
    fn recommendations_grow_with_use_and_stop_at_the_kernel_max() {
        assert_eq!(recommend_tasks(100, 4_194_304), 65536);
        assert_eq!(recommend_tasks(30_000, 4_194_304), 131_072);
        assert_eq!(recommend_tasks(3_000_000, 4_194_304), 4_194_304);
        assert!(sysctl_fix("kernel.pid_max", 9).starts_with("sysctl -w kernel.pid_max=9 && "));
    }
}
