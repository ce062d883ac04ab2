//! What stockade never hands to agents: room for the daemon, the shell an
//! operator needs to fix things, and everything else the host runs.

use serde::Serialize;

/// Amounts kept free on the host, subtracted before planning or admitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reserve {
    /// Bytes of `MemAvailable` to keep.
    pub memory: u64,
    /// Tasks (threads/pids) to keep. The default equals the doctor's fail
    /// floor, so admission stops before `stockade doctor` would say `fail`.
    pub tasks: u64,
    /// File handles (`fs.file-max`) to keep.
    pub files: u64,
}

impl Default for Reserve {
    fn default() -> Self {
        Reserve { memory: 1 << 30, tasks: crate::UsageRule::TASKS.fail_below_free, files: 4096 }
    }
}
