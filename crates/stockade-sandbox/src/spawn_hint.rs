//! Which limit bound when a spawn failed with EAGAIN — the field reports'
//! `pthread_create failed: Resource temporarily unavailable` lesson. The
//! kernel says only "try again"; the hint names the limit by comparing each
//! candidate's use with its ceiling: the box's `pids.max`, the user's
//! `RLIMIT_NPROC`, `kernel.threads-max` and `kernel.pid_max`.

use std::path::Path;

use rustix::process::{Resource, getrlimit, getuid};

/// A counter and its ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Use {
    pub(crate) used: u64,
    pub(crate) limit: u64,
}

impl Use {
    /// At the ceiling (exact limits) or within 2% of it (host-wide counts
    /// that other processes move while we look).
    fn binds(&self, slack_percent: u64) -> bool {
        self.used.saturating_add(self.limit * slack_percent / 100) >= self.limit
    }
}

/// Everything the EAGAIN decision looks at; `None` = unknown or unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TaskFacts {
    pub(crate) box_pids: Option<Use>,
    /// Tasks of the daemon's uid against its RLIMIT_NPROC (not for root, whom the kernel exempts).
    pub(crate) nproc: Option<(u32, Use)>,
    pub(crate) threads: Option<Use>,
    pub(crate) pid_max: Option<Use>,
}

impl TaskFacts {
    /// Read the host-wide facts from `proc_root`; `box_pids` from the box's counters.
    pub(crate) fn gather(proc_root: &Path, box_pids: Option<Use>) -> TaskFacts {
        let read = |rel: &str| std::fs::read_to_string(proc_root.join(rel)).ok();
        // The 4th field of loadavg is running/total scheduling entities: every thread.
        let tasks = read("loadavg")
            .and_then(|l| l.split_whitespace().nth(3)?.split_once('/')?.1.parse::<u64>().ok());
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

    /// The hint: which limit bound and how to raise it.
    pub(crate) fn eagain_hint(&self) -> String {
        if let Some(u) = self.box_pids.filter(|u| u.binds(0)) {
            return format!(
                "the box's pids.max bound: {} of {} tasks in use; raise `pids` in the limits or find what forks so much",
                u.used, u.limit
            );
        }
        if let Some((uid, u)) = self.nproc.filter(|(_, u)| u.binds(0)) {
            return format!(
                "RLIMIT_NPROC of uid {uid} bound: {} of {} tasks in use; raise `nproc` for that user in /etc/security/limits.conf (e.g. `agent soft nproc 65536`, note the spelling `nproc`) or run fewer agents",
                u.used, u.limit
            );
        }
        if let Some(u) = self.threads.filter(|u| u.binds(2)) {
            return format!(
                "kernel.threads-max bound: {} of {} threads in use; raise it (`sysctl -w kernel.threads-max={}`) or run fewer agents",
                u.used,
                u.limit,
                u.limit * 2
            );
        }
        if let Some(u) = self.pid_max.filter(|u| u.binds(2)) {
            return format!(
                "kernel.pid_max bound: {} of {} pids in use; raise it (`sysctl -w kernel.pid_max=4194304`) or run fewer agents",
                u.used, u.limit
            );
        }
        let show =
            |u: Option<Use>| u.map_or("unknown".to_string(), |u| format!("{}/{}", u.used, u.limit));
        format!(
            "the kernel refused a new task but no limit is at its ceiling now (box pids {}, nproc {}, threads {}, pid_max {}); it was probably a transient peak — retry, and run `stockade doctor`",
            show(self.box_pids),
            show(self.nproc.map(|(_, u)| u)),
            show(self.threads),
            show(self.pid_max)
        )
    }
}

/// Tasks (threads) owned by `uid`, by a walk over `proc_root`. Only called
/// after a failed spawn, never on a hot path.
fn user_tasks(proc_root: &Path, uid: u32) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(proc_root) else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .map(|e| {
            std::fs::read_to_string(e.path().join("status"))
                .ok()
                .and_then(|s| crate::backend::file::keyed(&s.replace(':', " "), "Threads"))
                .unwrap_or(1)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(used: u64, limit: u64) -> Option<Use> {
        Some(Use { used, limit })
    }

    #[test]
    fn each_limit_is_named_when_it_binds() {
        let idle = TaskFacts {
            box_pids: u(3, 64),
            nproc: None,
            threads: u(90, 192_730),
            pid_max: u(90, 32_768),
        };
        let cases = [
            (TaskFacts { box_pids: u(64, 64), ..idle }, "pids.max bound: 64 of 64"),
            (
                TaskFacts { nproc: Some((1000, Use { used: 4096, limit: 4096 })), ..idle },
                "RLIMIT_NPROC of uid 1000",
            ),
            (TaskFacts { threads: u(192_700, 192_730), ..idle }, "kernel.threads-max bound"),
            (TaskFacts { pid_max: u(32_700, 32_768), ..idle }, "kernel.pid_max bound"),
            (idle, "no limit is at its ceiling"),
            (TaskFacts::default(), "box pids unknown"),
        ];
        for (facts, words) in cases {
            let hint = facts.eagain_hint();
            assert!(hint.contains(words), "{facts:?}: {hint}");
        }
    }

    #[test]
    fn box_pids_beat_host_limits_and_pid_max_is_read_from_proc() {
        let proc = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(proc.path().join("sys/kernel")).unwrap();
        std::fs::write(proc.path().join("loadavg"), "0.05 0.32 0.18 1/32760 8509\n").unwrap();
        std::fs::write(proc.path().join("sys/kernel/threads-max"), "192730\n").unwrap();
        std::fs::write(proc.path().join("sys/kernel/pid_max"), "32768\n").unwrap();
        let facts = TaskFacts::gather(proc.path(), u(1, 64));
        assert_eq!(facts.pid_max, u(32_760, 32_768));
        assert_eq!(facts.threads, u(32_760, 192_730));
        assert!(
            facts.eagain_hint().contains("kernel.pid_max bound: 32760 of 32768"),
            "{}",
            facts.eagain_hint()
        );
        let full_box = TaskFacts::gather(proc.path(), u(64, 64));
        assert!(full_box.eagain_hint().contains("pids.max"));
    }
}
