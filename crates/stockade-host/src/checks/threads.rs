//! Threads in use against `kernel.threads-max` — the limit behind the field
//! report's `pthread_create failed: resource temporarily unavailable`.

use super::{UsageRule, percent, recommend_tasks, sysctl_fix, unknown};
use crate::HostFacts;
use stockade_proto::{Check, CheckStatus};

/// The kernel refuses `threads-max` above `FUTEX_TID_MASK`.
const THREADS_MAX_CEILING: u64 = 0x3fff_ffff;

/// The `threads` check.
pub fn checks(facts: &HostFacts) -> Vec<Check> {
    let (tasks, max) = match (&facts.tasks, &facts.threads_max) {
        (Ok(tasks), Ok(max)) => (tasks.total, *max),
        (Err(why), _) | (_, Err(why)) => {
            return vec![unknown("threads", "threads in use vs kernel.threads-max", why, None)];
        }
    };
    let status = UsageRule::TASKS.judge(tasks, max);
    let left = max.saturating_sub(tasks);
    let mut message =
        format!("{tasks} of {max} threads in use ({}), {left} left", percent(tasks, max));
    if status != CheckStatus::Ok {
        message.push_str(&format!(
            "; below {} free, agents that start dozens of threads each fail with EAGAIN \
             (\"pthread_create failed: resource temporarily unavailable\")",
            if status == CheckStatus::Fail {
                UsageRule::TASKS.fail_below_free
            } else {
                UsageRule::TASKS.warn_below_free
            }
        ));
    }
    let fix = (status != CheckStatus::Ok)
        .then(|| sysctl_fix("kernel.threads-max", recommend_tasks(tasks, THREADS_MAX_CEILING)));
    vec![Check {
        id: "threads".into(),
        status,
        value: Some(tasks.to_string()),
        limit: Some(max.to_string()),
        message,
        fix,
    }]
}
