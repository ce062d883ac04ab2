//! Events: the append-only, sequence-numbered record of every state change.

use crate::{ExitCause, JobId, JobState, RunId, Seq, ServiceState, UnixMillis};
use serde::{Deserialize, Serialize};

/// One event. `seq` is assigned by the store and strictly increases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    /// Monotonic sequence number; SSE clients resume from it.
    pub seq: Seq,
    /// When it happened.
    pub at: UnixMillis,
    /// The service or job template the event is about (`""` for daemon events).
    pub unit: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What an [`Event`] says. JSON: `{"type": "<snake_case>", ...fields}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A service replica changed state.
    ServiceState {
        /// Replica index.
        replica: u32,
        /// The new state.
        state: ServiceState,
        /// Why, in words ("dependency `router` gave up").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A job changed state.
    JobState {
        /// The job.
        job: JobId,
        /// The new state.
        state: JobState,
        /// Why, in words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A run started.
    RunStarted {
        /// The run.
        run: RunId,
        /// Its main pid.
        pid: u32,
    },
    /// A run ended.
    RunExited {
        /// The run.
        run: RunId,
        /// Why it ended.
        cause: ExitCause,
    },
    /// The kernel's OOM killer fired inside a box while it ran.
    OomKill {
        /// The run whose box it was.
        run: RunId,
    },
    /// A usage threshold was crossed (or cleared).
    Alert {
        /// `warning`, `critical` or `cleared`.
        level: String,
        /// What crossed what.
        message: String,
    },
    /// A job template's schedule submitted a run for a slot.
    ScheduleFired {
        /// The slot (when it was due).
        slot: UnixMillis,
        /// Slots missed while the daemon was down that this run stands for
        /// (`catch_up = "one"`; 0 for an on-time slot).
        #[serde(default, skip_serializing_if = "is_zero")]
        missed: u64,
    },
    /// A slot of a schedule submitted nothing.
    ScheduleSkipped {
        /// The slot.
        slot: UnixMillis,
        /// Why: `job 12 still running (overlap = "skip")`, `3 slots missed while down (catch_up = "none")`.
        reason: String,
    },
    /// An alert rule (`[alert.NAME]`) or the leak detector started firing.
    AlertFiring {
        /// The rule's name, or `memory_leak` for the leak detector.
        alert: String,
        /// What holds, with the numbers.
        message: String,
    },
    /// A firing alert stopped holding.
    AlertResolved {
        /// The rule's name, or `memory_leak`.
        alert: String,
        /// Why it resolved, with the numbers.
        message: String,
    },
    /// `stockade reload` (or SIGHUP) applied a new spec.
    SpecReloaded {
        /// `1 added, 0 removed, 1 updated, 1 restarted, 2 unchanged`.
        summary: String,
        /// The units that changed: `restart service web`, `add job train`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        units: Vec<String>,
    },
    /// The daemon started or stopped.
    Daemon {
        /// What the daemon did.
        message: String,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
