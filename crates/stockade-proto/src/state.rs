//! The public names of job and service states (DESIGN.md §7a). The engine
//! keeps richer, data-carrying states and maps them onto these for the wire.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted and waiting in its pool's queue.
    Queued,
    /// A run is in progress.
    Running,
    /// The last run exited with a success code.
    Succeeded,
    /// Every allowed attempt ended badly.
    Failed,
    /// Cancelled on request.
    Cancelled,
    /// Not started before its pool's `queue_timeout`.
    Expired,
    /// Refused at submission (full queue, unknown template).
    Rejected,
}

impl JobState {
    /// True once the job can change no more.
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Expired => "expired",
            JobState::Rejected => "rejected",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a service replica is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Not started yet (waiting for the start order).
    Pending,
    /// Waiting on a dependency that cannot be met (it gave up, or failed).
    Blocked,
    /// Spawned, readiness not yet passed.
    Starting,
    /// Running; no readiness probe, or not yet asked.
    Running,
    /// Running and its readiness probe passes.
    Ready,
    /// Died; waiting out the backoff before the next start.
    Backoff,
    /// Being stopped: signal sent, grace running.
    Stopping,
    /// Stopped and will not restart on its own.
    Stopped,
    /// Hit its `start_limit`; stays down until `stockade restart`.
    GaveUp,
}

impl ServiceState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Pending => "pending",
            ServiceState::Blocked => "blocked",
            ServiceState::Starting => "starting",
            ServiceState::Running => "running",
            ServiceState::Ready => "ready",
            ServiceState::Backoff => "backoff",
            ServiceState::Stopping => "stopping",
            ServiceState::Stopped => "stopped",
            ServiceState::GaveUp => "gave_up",
        }
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
