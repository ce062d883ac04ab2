//! Open files host-wide (`fs.file-nr` vs `fs.file-max`) and the per-process
//! ceiling `fs.nr_open`, above which no `RLIMIT_NOFILE` can be raised.

use super::{UsageRule, percent, sysctl_fix, unknown};
use crate::HostFacts;
use stockade_proto::{Check, CheckStatus};

/// 80 % / 95 % used, and at least 16384 / 4096 handles left.
const FILES: UsageRule =
    UsageRule { warn_ratio: 0.80, fail_ratio: 0.95, warn_below_free: 16384, fail_below_free: 4096 };

/// The `file_max` and `nr_open` checks.
pub fn checks(facts: &HostFacts) -> Vec<Check> {
    let file_max = match &facts.file_nr {
        Ok(nr) => {
            let status = FILES.judge(nr.allocated, nr.max);
            Check {
                id: "file_max".into(),
                status,
                value: Some(nr.allocated.to_string()),
                limit: Some(nr.max.to_string()),
                message: format!(
                    "{} of {} file handles allocated host-wide ({})",
                    nr.allocated,
                    nr.max,
                    percent(nr.allocated, nr.max)
                ),
                fix: (status != CheckStatus::Ok).then(|| {
                    sysctl_fix("fs.file-max", nr.allocated.saturating_mul(4).max(1 << 20))
                }),
            }
        }
        Err(why) => unknown("file_max", "fs.file-nr", why, None),
    };
    let nr_open = match facts.nr_open {
        Ok(nr_open) => {
            let status = if nr_open < 65536 { CheckStatus::Warn } else { CheckStatus::Ok };
            Check {
                id: "nr_open".into(),
                status,
                value: Some(nr_open.to_string()),
                limit: None,
                message: format!("no process can raise RLIMIT_NOFILE above {nr_open}"),
                fix: (status != CheckStatus::Ok).then(|| sysctl_fix("fs.nr_open", 1 << 20)),
            }
        }
        Err(ref why) => unknown("nr_open", "fs.nr_open", why, None),
    };
    vec![file_max, nr_open]
}
