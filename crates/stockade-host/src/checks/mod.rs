//! The `stockade doctor` checks: pure functions from [`HostFacts`] to
//! [`Check`]s, one file per probe family. [`checks`] runs them all.
//!
//! The shared rule for "used out of a limit" is [`UsageRule`]: a ratio test
//! (warn at 80 % used, fail at 95 %) *and* an absolute floor of what is left.
//! The floor is why the field report's host fails: `kernel.threads-max` 6337
//! with 5279 threads in use is only 83 % — a warn by ratio — but leaves 1058
//! threads, and the 24 Docker-in-Docker agents it was starting needed dozens
//! each. A herd of agents needs thousands of free tasks, so fewer than 2048
//! free threads or pids is a fail and fewer than 8192 a warn, whatever the ratio.

mod cgroup;
mod files;
mod inotify;
mod memory;
mod pids;
mod psi;
mod rlimit;
mod rootless;
mod systemd;
mod threads;
mod walls;

pub use rootless::rootless_check;
pub use systemd::{SystemdUnit, kill_mode_check, kill_mode_of_file, unit_of_cgroup};
pub use walls::{IdRange, walls_checks};

use crate::{HostFacts, Unknown};
use stockade_proto::{Check, CheckStatus};

/// Every check, in the order the doctor prints them.
pub fn checks(facts: &HostFacts) -> Vec<Check> {
    let mut all = Vec::new();
    all.extend(threads::checks(facts));
    all.extend(pids::checks(facts));
    all.extend(rlimit::checks(facts));
    all.extend(files::checks(facts));
    all.extend(inotify::checks(facts));
    all.extend(memory::checks(facts));
    all.extend(psi::checks(facts));
    all.extend(cgroup::checks(facts));
    all
}

/// When "used out of limit" is a warn or a fail: a share used, or too little left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageRule {
    /// Warn at or above this share used (0.80).
    pub warn_ratio: f64,
    /// Fail at or above this share used (0.95).
    pub fail_ratio: f64,
    /// Warn when fewer than this many units are left.
    pub warn_below_free: u64,
    /// Fail when fewer than this many units are left.
    pub fail_below_free: u64,
}

impl UsageRule {
    /// Threads and pids: 80 % / 95 %, and at least 8192 / 2048 left (see the module docs).
    pub const TASKS: UsageRule = UsageRule {
        warn_ratio: 0.80,
        fail_ratio: 0.95,
        warn_below_free: 8192,
        fail_below_free: 2048,
    };

    /// A ratio-only rule.
    pub const fn ratio(warn_ratio: f64, fail_ratio: f64) -> UsageRule {
        UsageRule { warn_ratio, fail_ratio, warn_below_free: 0, fail_below_free: 0 }
    }

    /// The verdict for `used` out of `limit`.
    pub fn judge(&self, used: u64, limit: u64) -> CheckStatus {
        let free = limit.saturating_sub(used);
        let ratio = if limit == 0 { 1.0 } else { used as f64 / limit as f64 };
        if ratio >= self.fail_ratio || free < self.fail_below_free {
            CheckStatus::Fail
        } else if ratio >= self.warn_ratio || free < self.warn_below_free {
            CheckStatus::Warn
        } else {
            CheckStatus::Ok
        }
    }
}

/// A check that could not measure: status `unknown`, the reason as the message.
pub(crate) fn unknown(id: &str, what: &str, why: &Unknown, fix: Option<String>) -> Check {
    Check {
        id: id.into(),
        status: CheckStatus::Unknown,
        value: None,
        limit: None,
        message: format!("cannot measure {what}: {why}"),
        fix,
    }
}

/// A percentage for messages: `83%`.
pub(crate) fn percent(used: u64, limit: u64) -> String {
    if limit == 0 { "100%".into() } else { format!("{:.0}%", used as f64 * 100.0 / limit as f64) }
}

pub(crate) use stockade_linux::eagain::{recommend_tasks, sysctl_fix};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;
    use crate::{Depth, HostFacts, render_text};

    fn run(fixture: &Fixture) -> Vec<Check> {
        let (_dir, root) = fixture.write();
        checks(&HostFacts::read_with(&root, Depth::Quick))
    }

    fn by_id<'a>(checks: &'a [Check], id: &str) -> &'a Check {
        checks.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no check {id}"))
    }

    #[test]
    fn the_field_report_host_fails_on_threads_and_nproc() {
        let all = run(&Fixture::field_report());
        let threads = by_id(&all, "threads");
        assert_eq!(threads.status, CheckStatus::Fail, "{threads:?}");
        assert_eq!(threads.value.as_deref(), Some("5279"));
        assert_eq!(threads.limit.as_deref(), Some("6337"));
        assert!(threads.fix.as_deref().unwrap().contains("sysctl -w kernel.threads-max=65536"));
        assert_eq!(by_id(&all, "pid_max").status, CheckStatus::Ok);
        assert_eq!(by_id(&all, "nproc").status, CheckStatus::Fail, "3168 for uid 1000");
        assert_eq!(by_id(&all, "nofile").status, CheckStatus::Ok, "hard 524288");
        assert_eq!(by_id(&all, "inotify_instances").status, CheckStatus::Warn, "128 per user");
        assert_eq!(by_id(&all, "cgroup_mode").status, CheckStatus::Ok);
        assert_eq!(by_id(&all, "cgroup_controllers").status, CheckStatus::Ok);
        assert_eq!(by_id(&all, "cgroup_writable").status, CheckStatus::Ok);
        assert_eq!(by_id(&all, "cgroup_mount_options").status, CheckStatus::Warn);
    }

    #[test]
    fn the_field_report_renders() {
        insta::assert_snapshot!(render_text(&run(&Fixture::field_report())));
    }

    #[test]
    fn a_roomy_host_is_all_ok() {
        let all = run(&Fixture::roomy());
        let not_ok: Vec<_> = all.iter().filter(|c| c.status != CheckStatus::Ok).collect();
        assert!(not_ok.is_empty(), "{not_ok:#?}");
    }

    #[test]
    fn every_missing_or_garbled_file_degrades_to_unknown_without_panicking() {
        let base = Fixture::field_report();
        let expected = run(&base).len();
        let paths = [
            "proc/loadavg",
            "proc/sys/kernel/threads-max",
            "proc/sys/kernel/pid_max",
            "proc/sys/fs/file-nr",
            "proc/sys/fs/nr_open",
            "proc/sys/fs/inotify/max_user_watches",
            "proc/meminfo",
            "proc/sys/vm/overcommit_memory",
            "proc/pressure/memory",
            "proc/self/limits",
            "proc/self/mountinfo",
        ];
        for path in paths {
            for garbage in [None, Some(""), Some("\u{0}garbage x/y\n-1\n")] {
                let mut f = base.clone();
                match garbage {
                    None => f.remove(path),
                    Some(text) => f.set(path, text),
                };
                let all = run(&f);
                assert_eq!(all.len(), expected, "{path} {garbage:?}");
                assert!(
                    all.iter().any(|c| c.status == CheckStatus::Unknown),
                    "{path} {garbage:?} made nothing unknown"
                );
            }
        }
    }

    #[test]
    fn missing_psi_is_unknown_with_the_boot_flag_as_fix() {
        let mut f = Fixture::field_report();
        f.remove("proc/pressure/cpu").remove("proc/pressure/memory").remove("proc/pressure/io");
        let all = run(&f);
        let psi = by_id(&all, "psi_memory");
        assert_eq!(psi.status, CheckStatus::Unknown);
        assert!(psi.message.contains("psi=1"), "{}", psi.message);
        assert!(!psi.message.contains("/tmp"), "fixture paths leak: {}", psi.message);
    }

    #[test]
    fn memory_pressure_warns_on_some_and_fails_on_full() {
        let mut f = Fixture::roomy();
        f.set(
            "proc/pressure/memory",
            "some avg10=12.00 avg60=0 avg300=0 total=0\nfull avg10=3.00 avg60=0 avg300=0 total=0\n",
        );
        assert_eq!(by_id(&run(&f), "psi_memory").status, CheckStatus::Warn);
        f.set("proc/pressure/memory", "some avg10=40.00 avg60=0 avg300=0 total=0\nfull avg10=25.00 avg60=0 avg300=0 total=0\n");
        assert_eq!(by_id(&run(&f), "psi_memory").status, CheckStatus::Fail);
    }

    #[test]
    fn low_memory_and_strict_overcommit_are_flagged() {
        let mut f = Fixture::roomy();
        f.set("proc/meminfo", "MemTotal: 16000000 kB\nMemAvailable: 200000 kB\nSwapTotal: 1000 kB\nSwapFree: 10 kB\nCommitLimit: 1000 kB\nCommitted_AS: 990 kB\n")
            .set("proc/sys/vm/overcommit_memory", "2\n");
        let all = run(&f);
        assert_eq!(by_id(&all, "memory").status, CheckStatus::Fail);
        assert_eq!(by_id(&all, "swap").status, CheckStatus::Fail);
        let overcommit = by_id(&all, "overcommit");
        assert_eq!(overcommit.status, CheckStatus::Fail);
        assert!(overcommit.fix.as_deref().unwrap().contains("vm.overcommit_memory=0"));
    }

    #[test]
    fn pid_max_below_threads_max_binds_first() {
        let mut f = Fixture::roomy();
        f.set("proc/sys/kernel/pid_max", "32768\n").set("proc/loadavg", "0 0 0 1/31500 1\n");
        let all = run(&f);
        let pids = by_id(&all, "pid_max");
        assert_eq!(pids.status, CheckStatus::Fail);
        assert!(pids.message.contains("binds first"), "{}", pids.message);
        assert_eq!(by_id(&all, "threads").status, CheckStatus::Ok);
    }

    #[test]
    fn v1_hybrid_without_favordynmods_warns_and_missing_controllers_fail() {
        let mut f = Fixture::roomy();
        f.set(
            "proc/self/mountinfo",
            "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
            35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        )
        .set("proc/self/cgroup", "4:memory:/\n1:cpu:/\n0::/\n")
        .set("sys/fs/cgroup/cpu/", "")
        .remove("sys/fs/cgroup/cpu/")
        .set("sys/fs/cgroup/cpu/tasks", "")
        .set("sys/fs/cgroup/memory/tasks", "");
        let all = run(&f);
        let mode = by_id(&all, "cgroup_mode");
        assert!(mode.value.as_deref().unwrap().contains("hybrid"), "{mode:?}");
        let controllers = by_id(&all, "cgroup_controllers");
        assert_eq!(controllers.status, CheckStatus::Fail);
        assert!(controllers.message.contains("missing pids"), "{}", controllers.message);
        assert!(controllers.fix.as_deref().unwrap().contains("mount -t cgroup -o pids"));
        let options = by_id(&all, "cgroup_mount_options");
        assert_eq!(options.status, CheckStatus::Warn);
        assert!(options.message.contains("2 v1 hierarchies"), "{}", options.message);
    }

    #[test]
    fn the_real_host_is_checked_without_unknown_core_numbers() {
        let all = checks(&HostFacts::read_with(&crate::HostRoot::default(), Depth::Deep));
        for id in ["threads", "pid_max", "nofile", "memory", "cgroup_mode"] {
            assert_ne!(by_id(&all, id).status, CheckStatus::Unknown, "{:?}", by_id(&all, id));
        }
        eprintln!("{}", render_text(&all));
    }

    #[test]
    fn the_field_reports_threads_fail_by_the_floor_not_the_ratio() {
        assert_eq!(UsageRule::ratio(0.80, 0.95).judge(5279, 6337), CheckStatus::Warn);
        assert_eq!(UsageRule::TASKS.judge(5279, 6337), CheckStatus::Fail);
    }

    #[test]
    fn tasks_rule_boundaries() {
        let rule = UsageRule::TASKS;
        assert_eq!(rule.judge(100, 192_730), CheckStatus::Ok);
        assert_eq!(rule.judge(80_000, 100_000), CheckStatus::Warn, "80% used");
        assert_eq!(rule.judge(95_000, 100_000), CheckStatus::Fail, "95% used");
        assert_eq!(rule.judge(0, 8191), CheckStatus::Warn, "under the warn floor");
        assert_eq!(rule.judge(0, 2047), CheckStatus::Fail, "under the fail floor");
        assert_eq!(rule.judge(10, 0), CheckStatus::Fail, "a zero limit is full");
        assert_eq!(rule.judge(u64::MAX, u64::MAX), CheckStatus::Fail);
    }

    #[test]
    fn recommendations_are_powers_of_two_within_kernel_bounds() {
        assert_eq!(recommend_tasks(5279, 1 << 30), 65536);
        assert_eq!(recommend_tasks(40_000, 1 << 30), 262_144);
        assert_eq!(recommend_tasks(40_000, 4_194_304), 262_144);
        assert_eq!(recommend_tasks(2_000_000, 4_194_304), 4_194_304);
    }
}
