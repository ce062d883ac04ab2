//! Memory: `MemAvailable` against `MemTotal`, swap, and `vm.overcommit_memory`.
//! Warn below 15 % available (or 1 GiB), fail below 5 % (or 256 MiB): the
//! WARNING/CRITICAL levels of research/queue-anchors.md §4.3, under which
//! admission stops before the kernel's OOM killer or systemd-oomd act.

use super::{UsageRule, percent, sysctl_fix, unknown};
use crate::HostFacts;
use stockade_linux::human_bytes;
use stockade_proto::{Check, CheckStatus};

const MEMORY: UsageRule = UsageRule {
    warn_ratio: 0.85,
    fail_ratio: 0.95,
    warn_below_free: 1 << 30,
    fail_below_free: 256 << 20,
};

/// The `memory`, `swap` and `overcommit` checks.
pub fn checks(facts: &HostFacts) -> Vec<Check> {
    let m = match &facts.memory {
        Ok(m) => m,
        Err(why) => {
            return vec![
                unknown("memory", "MemAvailable", why, None),
                unknown("swap", "swap", why, None),
                overcommit(facts),
            ];
        }
    };
    let used = m.total.saturating_sub(m.available);
    let status = MEMORY.judge(used, m.total);
    let memory = Check {
        id: "memory".into(),
        status,
        value: Some(format!("{} available", human_bytes(m.available))),
        limit: Some(format!("{} total", human_bytes(m.total))),
        message: format!(
            "{} of memory in use ({}), {} available",
            human_bytes(used),
            percent(used, m.total),
            human_bytes(m.available)
        ),
        fix: (status != CheckStatus::Ok).then(|| {
            "lower max_concurrency in stockade.toml to what `stockade doctor --plan` says fits"
                .to_string()
        }),
    };
    let swap = if m.swap_total == 0 {
        Check {
            id: "swap".into(),
            status: CheckStatus::Ok,
            value: Some("0 B".into()),
            limit: None,
            message: "no swap: an agent past its memory limit is OOM-killed at once instead of \
                      swapping, and host memory pressure rises sharply"
                .into(),
            fix: None,
        }
    } else {
        let used = m.swap_total.saturating_sub(m.swap_free);
        let status = UsageRule::ratio(0.80, 0.95).judge(used, m.swap_total);
        Check {
            id: "swap".into(),
            status,
            value: Some(human_bytes(used)),
            limit: Some(human_bytes(m.swap_total)),
            message: format!(
                "{} of swap in use ({})",
                human_bytes(used),
                percent(used, m.swap_total)
            ),
            fix: None,
        }
    };
    vec![memory, swap, overcommit(facts)]
}

fn overcommit(facts: &HostFacts) -> Check {
    let mode = match facts.overcommit_memory {
        Ok(mode) => mode,
        Err(ref why) => return unknown("overcommit", "vm.overcommit_memory", why, None),
    };
    let (status, message) = match mode {
        0 => (
            CheckStatus::Ok,
            "heuristic overcommit (0): box memory limits are the guard".to_string(),
        ),
        1 => {
            (CheckStatus::Ok, "always overcommit (1): box memory limits are the guard".to_string())
        }
        2 => match &facts.memory {
            Ok(m) => {
                let by_use = UsageRule::ratio(0.80, 0.95).judge(m.committed, m.commit_limit);
                (
                    by_use.max(CheckStatus::Warn),
                    format!(
                        "strict accounting (2): {} of {} committed ({}); runtimes that reserve \
                         address space (Go, JVM, V8) fail with ENOMEM once CommitLimit is reached",
                        human_bytes(m.committed),
                        human_bytes(m.commit_limit),
                        percent(m.committed, m.commit_limit)
                    ),
                )
            }
            Err(_) => (CheckStatus::Warn, "strict accounting (2)".to_string()),
        },
        other => (CheckStatus::Unknown, format!("unexpected vm.overcommit_memory value {other}")),
    };
    Check {
        id: "overcommit".into(),
        status,
        value: Some(mode.to_string()),
        limit: None,
        message,
        fix: (status == CheckStatus::Warn || status == CheckStatus::Fail)
            .then(|| sysctl_fix("vm.overcommit_memory", 0)),
    }
}
