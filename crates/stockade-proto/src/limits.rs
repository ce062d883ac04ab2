//! Resource limits of one box, in the units the kernel takes.

use serde::{Deserialize, Serialize};

/// The limits of one box. `None` means "not limited by stockade" (the host's own
/// limits still apply). Sizes are bytes; `cpus` is a fraction of CPUs (1.5 = one
/// and a half cores of CFS quota).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Hard memory limit in bytes (`memory.max` / `memory.limit_in_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// Memory throttling threshold in bytes (`memory.high`, v2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_high: Option<u64>,
    /// CPU quota in CPUs (`cpu.max` / `cpu.cfs_quota_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Maximum number of tasks (processes and threads) in the box (`pids.max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
    /// `RLIMIT_NOFILE` of the agent (soft and hard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nofile: Option<u64>,
    /// `RLIMIT_NPROC` of the agent (soft and hard). Counts per uid, not per box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nproc: Option<u64>,
    /// `RLIMIT_CORE` in bytes; 0 disables core dumps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<u64>,
}

impl Limits {
    /// Fill every unset field of `self` from `defaults`.
    pub fn or(mut self, defaults: &Limits) -> Limits {
        self.memory = self.memory.or(defaults.memory);
        self.memory_high = self.memory_high.or(defaults.memory_high);
        self.cpus = self.cpus.or(defaults.cpus);
        self.pids = self.pids.or(defaults.pids);
        self.nofile = self.nofile.or(defaults.nofile);
        self.nproc = self.nproc.or(defaults.nproc);
        self.core = self.core.or(defaults.core);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn or_keeps_own_values_and_fills_the_rest() {
        let own = Limits { memory: Some(1), ..Limits::default() };
        let defaults = Limits { memory: Some(2), pids: Some(3), ..Limits::default() };
        let merged = own.or(&defaults);
        assert_eq!(merged.memory, Some(1));
        assert_eq!(merged.pids, Some(3));
        assert_eq!(merged.cpus, None);
    }
}
