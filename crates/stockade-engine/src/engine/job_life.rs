//! [`JobLife`]: where a live job is in its life, each state with its own
//! data, changed only by [`JobLife::transition`] (pueue's `TaskStatus` is the
//! model). Pure: no store, no launcher, no clock of its own.
//!
//! ```text
//!   Queued ──admit──> Launching ──journaled──> Running ──ended(finish)──> Done
//!     │                 │   │                    │ └──ended(requeue)──> Queued
//!     │                 │   └─journal failed──> Queued
//!     │                 └─cancel/shutdown: kept; journaled ──> Stopping (never launched)
//!     ├─cancel, expire ──> Done                  └─cancel/shutdown/timeout ──> Stopping
//!     └─shutdown: stays queued (durable)           Stopping ──ended──> Done | Queued
//! ```
//!
//! Every state × input pair is either a move with a [`Step`] for the engine
//! to carry out or an [`IllegalJobMove`] that reaches the caller; the
//! table test in `job_life_tests.rs` checks all of them.

use crate::launcher::StopReason;
use std::fmt;
use stockade_proto::{JobState, Outcome, RunId, UnixMillis};
use tokio::time::Instant;

/// Why a job's run is being stopped; decides how the job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StopWhy {
    /// `stockade cancel`: the job ends `cancelled`.
    Cancel,
    /// The daemon is shutting down: the job is queued again for the next start.
    Shutdown,
    /// The run passed its `timeout`: it ends `timed_out` and the retry policy decides.
    Timeout,
}

impl StopWhy {
    /// What the launcher is told.
    pub fn reason(self) -> StopReason {
        match self {
            StopWhy::Cancel | StopWhy::Shutdown => StopReason::Asked,
            StopWhy::Timeout => StopReason::Timeout,
        }
    }
}

/// A live job's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JobLife {
    /// Waiting in its pool's queue (again, after a retry or a shutdown).
    Queued {
        /// When it entered the queue (for `queue_timeout` and the wait histogram).
        enqueued_at: Instant,
        /// Not before this (retry backoff).
        retry_at: Option<Instant>,
    },
    /// Admitted: its `running` state and its run are being journaled.
    Launching {
        /// The run's box.
        box_name: String,
        /// A stop that came while journaling; carried out once the run exists.
        stop: Option<StopWhy>,
    },
    /// Launched (its process may not have reported its pid yet).
    Running {
        /// The run.
        run: RunId,
        /// Its main process, once started.
        pid: Option<u32>,
        /// When the run was journaled as started.
        started_at: Option<UnixMillis>,
        /// When its `timeout` runs out.
        deadline: Option<Instant>,
    },
    /// Asked to stop; its box is being emptied.
    Stopping {
        /// The run.
        run: RunId,
        /// Its main process, if it started.
        pid: Option<u32>,
        /// When the run was journaled as started.
        started_at: Option<UnixMillis>,
        /// Why.
        why: StopWhy,
    },
    /// Reached a terminal state; kept until that is committed, so a listing
    /// never shows the store's stale `running` in between.
    Done {
        /// The terminal state.
        to: JobState,
        /// What its last run's end meant (`None`: it never ran).
        outcome: Option<Outcome>,
    },
}

/// What moves a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JobInput {
    /// Admission picked it: journal `running` and a run in `box_name`.
    Admit { box_name: String },
    /// The run is journaled.
    Journaled { run: RunId, started_at: Option<UnixMillis>, deadline: Option<Instant> },
    /// The journal refused the run: queue again, not before `retry_at`.
    JournalFailed { now: Instant, retry_at: Instant },
    /// The run's main process started.
    Started { pid: u32 },
    /// Stop it (cancel, shutdown, timeout).
    Stop(StopWhy),
    /// Its `queue_timeout` passed while queued.
    Expire,
    /// Its run ended and the retry policy decided ([`super::retry::decide`]).
    Ended(End),
}

/// How an ended run leaves its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Queued again (a retry, or a shutdown), not before `retry_at`.
    Requeue { now: Instant, retry_at: Instant },
    /// Finished in the terminal state `to`.
    Finish { to: JobState, outcome: Outcome },
}

/// What the engine must do for a move, besides holding the new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Nothing more.
    Stay,
    /// The committed state changes: journal `from → to`.
    Journal { from: JobState, to: JobState },
    /// Journal `queued → running` and the run (admission).
    JournalStart,
    /// Launch the journaled run.
    Launch { run: RunId },
    /// The run is journaled but a stop came first: end it without launching.
    EndUnlaunched { run: RunId },
    /// Ask the launcher to stop the run.
    Stop { run: RunId, reason: StopReason },
    /// Back in the queue with no journal change (the start was never committed).
    Requeue,
}

/// A move the table does not allow, with both sides named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a job that is {from} cannot take {input}")]
pub struct IllegalJobMove {
    /// The state's name.
    pub from: &'static str,
    /// The input's name.
    pub input: &'static str,
}

impl JobLife {
    /// A job entering the queue at `now`.
    pub fn queued(now: Instant, retry_at: Option<Instant>) -> JobLife {
        JobLife::Queued { enqueued_at: now, retry_at }
    }

    /// The state's name, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            JobLife::Queued { .. } => "queued",
            JobLife::Launching { .. } => "launching",
            JobLife::Running { .. } => "running",
            JobLife::Stopping { .. } => "stopping",
            JobLife::Done { .. } => "done",
        }
    }

    /// What a view shows: a job shows its last committed state until its
    /// end is committed (`None` for `Done`: the record's state).
    pub fn public(&self) -> Option<JobState> {
        match self {
            JobLife::Queued { .. } => Some(JobState::Queued),
            JobLife::Launching { .. } | JobLife::Running { .. } | JobLife::Stopping { .. } => {
                Some(JobState::Running)
            }
            JobLife::Done { .. } => None,
        }
    }

    /// The live run, if any.
    pub fn run(&self) -> Option<RunId> {
        match self {
            JobLife::Running { run, .. } | JobLife::Stopping { run, .. } => Some(*run),
            _ => None,
        }
    }

    /// The live run's main process, if it started.
    pub fn pid(&self) -> Option<u32> {
        match self {
            JobLife::Running { pid, .. } | JobLife::Stopping { pid, .. } => *pid,
            _ => None,
        }
    }

    /// When the live run was journaled as started.
    pub fn started_at(&self) -> Option<UnixMillis> {
        match self {
            JobLife::Running { started_at, .. } | JobLife::Stopping { started_at, .. } => {
                *started_at
            }
            _ => None,
        }
    }

    /// Why the run is being stopped, if it is (or will be, once journaled).
    pub fn stopping(&self) -> Option<StopWhy> {
        match self {
            JobLife::Stopping { why, .. } => Some(*why),
            JobLife::Launching { stop, .. } => *stop,
            _ => None,
        }
    }

    /// The one way a job's state changes.
    pub fn transition(&mut self, input: JobInput) -> Result<Step, IllegalJobMove> {
        use JobInput as I;
        use JobLife as L;
        let illegal = IllegalJobMove { from: self.name(), input: input_name(&input) };
        let (next, step) = match (&*self, input) {
            (L::Queued { .. }, I::Admit { box_name }) => {
                (L::Launching { box_name, stop: None }, Step::JournalStart)
            }
            (L::Queued { .. }, I::Stop(StopWhy::Cancel)) => (
                L::Done { to: JobState::Cancelled, outcome: None },
                Step::Journal { from: JobState::Queued, to: JobState::Cancelled },
            ),
            // A queued job is durable: a shutdown leaves it queued.
            (L::Queued { .. }, I::Stop(StopWhy::Shutdown)) => return Ok(Step::Stay),
            (L::Queued { .. }, I::Expire) => (
                L::Done { to: JobState::Expired, outcome: None },
                Step::Journal { from: JobState::Queued, to: JobState::Expired },
            ),
            (L::Launching { .. }, I::Journaled { run, started_at, deadline }) => {
                match self.stopping() {
                    Some(why) => (
                        L::Stopping { run, pid: None, started_at, why },
                        Step::EndUnlaunched { run },
                    ),
                    None => {
                        (L::Running { run, pid: None, started_at, deadline }, Step::Launch { run })
                    }
                }
            }
            (L::Launching { .. }, I::JournalFailed { now, retry_at }) => {
                (JobLife::queued(now, Some(retry_at)), Step::Requeue)
            }
            (L::Launching { box_name, stop }, I::Stop(why)) if why != StopWhy::Timeout => {
                let stop = Some(if *stop == Some(StopWhy::Cancel) { StopWhy::Cancel } else { why });
                (L::Launching { box_name: box_name.clone(), stop }, Step::Stay)
            }
            (L::Running { run, started_at, deadline, .. }, I::Started { pid }) => {
                let next = L::Running {
                    run: *run,
                    pid: Some(pid),
                    started_at: *started_at,
                    deadline: *deadline,
                };
                (next, Step::Stay)
            }
            (L::Stopping { run, started_at, why, .. }, I::Started { pid }) => {
                let next =
                    L::Stopping { run: *run, pid: Some(pid), started_at: *started_at, why: *why };
                (next, Step::Stay)
            }
            (L::Running { run, pid, started_at, .. }, I::Stop(why)) => (
                L::Stopping { run: *run, pid: *pid, started_at: *started_at, why },
                Step::Stop { run: *run, reason: why.reason() },
            ),
            // Already stopping: a cancel decides how it ends; nothing else changes it.
            (L::Stopping { why: StopWhy::Cancel, .. }, I::Stop(_)) => return Ok(Step::Stay),
            (L::Stopping { run, pid, started_at, .. }, I::Stop(StopWhy::Cancel)) => {
                let next = L::Stopping {
                    run: *run,
                    pid: *pid,
                    started_at: *started_at,
                    why: StopWhy::Cancel,
                };
                (next, Step::Stay)
            }
            (L::Stopping { .. }, I::Stop(_)) => return Ok(Step::Stay),
            (L::Running { .. } | L::Stopping { .. }, I::Ended(End::Requeue { now, retry_at })) => (
                JobLife::queued(now, Some(retry_at)),
                Step::Journal { from: JobState::Running, to: JobState::Queued },
            ),
            (L::Running { .. } | L::Stopping { .. }, I::Ended(End::Finish { to, outcome })) => (
                L::Done { to, outcome: Some(outcome) },
                Step::Journal { from: JobState::Running, to },
            ),
            _ => return Err(illegal),
        };
        *self = next;
        Ok(step)
    }
}

fn input_name(input: &JobInput) -> &'static str {
    match input {
        JobInput::Admit { .. } => "admit",
        JobInput::Journaled { .. } => "journaled",
        JobInput::JournalFailed { .. } => "journal_failed",
        JobInput::Started { .. } => "started",
        JobInput::Stop(StopWhy::Cancel) => "cancel",
        JobInput::Stop(StopWhy::Shutdown) => "shutdown",
        JobInput::Stop(StopWhy::Timeout) => "timeout",
        JobInput::Expire => "expire",
        JobInput::Ended(End::Requeue { .. }) => "ended_requeue",
        JobInput::Ended(End::Finish { .. }) => "ended_finish",
    }
}

impl fmt::Display for JobLife {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
#[path = "job_life_tests.rs"]
mod tests;
