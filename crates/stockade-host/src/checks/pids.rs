//! Tasks in use against `kernel.pid_max`: every thread holds a pid, so the
//! same count as the `threads` check, against the other ceiling.

use super::{UsageRule, percent, recommend_tasks, sysctl_fix, unknown};
use crate::HostFacts;
use stockade_proto::{Check, CheckStatus};

/// `PID_MAX_LIMIT` on 64-bit kernels.
const PID_MAX_CEILING: u64 = 4_194_304;

/// The `pid_max` check.
pub fn checks(facts: &HostFacts) -> Vec<Check> {
    let (tasks, max) = match (&facts.tasks, &facts.pid_max) {
        (Ok(tasks), Ok(max)) => (tasks.total, *max),
        (Err(why), _) | (_, Err(why)) => {
            return vec![unknown("pid_max", "tasks in use vs kernel.pid_max", why, None)];
        }
    };
    let status = UsageRule::TASKS.judge(tasks, max);
    let mut message = format!(
        "{tasks} of {max} pids in use ({}), {} left",
        percent(tasks, max),
        max.saturating_sub(tasks)
    );
    if let Ok(threads_max) = facts.threads_max
        && max < threads_max
    {
        message.push_str(&format!(
            "; pid_max is below kernel.threads-max ({threads_max}), so it binds first"
        ));
    }
    if status != CheckStatus::Ok {
        message.push_str("; fork and thread creation fail with EAGAIN when pids run out");
    }
    let fix = (status != CheckStatus::Ok)
        .then(|| sysctl_fix("kernel.pid_max", recommend_tasks(tasks, PID_MAX_CEILING)));
    vec![Check {
        id: "pid_max".into(),
        status,
        value: Some(tasks.to_string()),
        limit: Some(max.to_string()),
        message,
        fix,
    }]
}
