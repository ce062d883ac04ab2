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
mod threads;

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

/// The sysctl fix: set it now and keep it across reboots.
pub(crate) fn sysctl_fix(name: &str, value: u64) -> String {
    format!("sysctl -w {name}={value} && echo '{name} = {value}' >> /etc/sysctl.d/90-stockade.conf")
}

/// A value to recommend for a task limit: at least 65536 (the field report's
/// fix), at least four times what is in use, rounded to a power of two, never
/// above what the kernel accepts.
pub(crate) fn recommend_tasks(in_use: u64, kernel_max: u64) -> u64 {
    in_use.saturating_mul(4).max(65536).next_power_of_two().min(kernel_max)
}

#[cfg(test)]
mod tests {
    use super::*;

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
