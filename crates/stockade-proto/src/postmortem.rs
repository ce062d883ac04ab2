//! Post-mortems: the stored record of an abnormal end.

use crate::{Evidence, ExitCause, Limits, RunId, UnixMillis};
use serde::{Deserialize, Serialize};

/// Everything known about one abnormal end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostMortem {
    /// The run that ended.
    pub run: RunId,
    /// The service or job template.
    pub unit: String,
    /// One sentence: what happened and what to do.
    pub summary: String,
    /// The cause.
    pub cause: ExitCause,
    /// The counters and statuses that decided the cause.
    pub evidence: Evidence,
    /// The limits in force.
    pub limits: Limits,
    /// How often this unit had restarted before this run.
    pub restart_count: u32,
    /// When the run started and ended.
    pub started_at: UnixMillis,
    /// When the run ended.
    pub ended_at: UnixMillis,
    /// The last lines of stdout and stderr.
    pub logs: LogTail,
    /// The last probe results, oldest first.
    #[serde(default)]
    pub probes: Vec<ProbeRecord>,
    /// The host at the moment of death.
    pub host: HostSnapshot,
}

/// The last lines a run wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogTail {
    /// Last lines of stdout.
    pub stdout: Vec<String>,
    /// Last lines of stderr.
    pub stderr: Vec<String>,
}

/// One probe result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProbeRecord {
    /// When the probe finished.
    pub at: UnixMillis,
    /// `readiness` or `liveness`.
    pub probe: String,
    /// Whether it passed.
    pub ok: bool,
    /// What it saw ("HTTP 503", "connection refused", "exit 1").
    pub detail: String,
}

/// Host-wide numbers taken at the moment of a death, so a post-mortem can tell a
/// box's own limit from a host that ran out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostSnapshot {
    /// `MemAvailable` in bytes.
    pub mem_available: Option<u64>,
    /// `MemTotal` in bytes.
    pub mem_total: Option<u64>,
    /// PSI memory `some avg10`.
    pub psi_memory_some: Option<f64>,
    /// PSI memory `full avg10`.
    pub psi_memory_full: Option<f64>,
    /// PSI cpu `some avg10`.
    pub psi_cpu_some: Option<f64>,
    /// Threads in use on the host.
    pub threads: Option<u64>,
    /// `kernel.threads-max`.
    pub threads_max: Option<u64>,
    /// Tasks (pids) in use.
    pub tasks: Option<u64>,
    /// `kernel.pid_max`.
    pub pid_max: Option<u64>,
    /// Host-wide OOM kills so far (`/proc/vmstat` `oom_kill`).
    pub host_oom_kills: Option<u64>,
}
