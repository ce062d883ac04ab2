//! Live resource usage of a box, read from its own cgroup files.

use serde::{Deserialize, Serialize};

/// A sample of one box's usage. Each field is `None` when the backend cannot
/// tell (the `none` backend has no counters; v1 has no `pids.peak` on old kernels).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Usage {
    /// Total CPU time of every task in the box, in microseconds.
    pub cpu_usec: Option<u64>,
    /// Memory charged to the box now, in bytes.
    pub memory_current: Option<u64>,
    /// The highest memory charge seen, in bytes.
    pub memory_peak: Option<u64>,
    /// Tasks (processes and threads) in the box now.
    pub pids_current: Option<u64>,
    /// The highest task count seen.
    pub pids_peak: Option<u64>,
}
