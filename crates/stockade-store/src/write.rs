//! [`Write`]: one change the engine asks for, and [`Applied`]: what it became.
//!
//! A `Vec<Write>` given to [`crate::Store::apply`] is one atomic unit: all of
//! it commits or none of it does. The answer has exactly one [`Applied`] per
//! `Write`, in the same order.

use crate::{JobRecord, NewJob, NewRun};
use stockade_proto::{
    Event, EventKind, Evidence, ExitCause, JobId, JobState, PostMortem, RunId, UnixMillis,
};

/// One change to the store.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "built once and moved into the writer's channel; boxing would only burden callers"
)]
pub enum Write {
    /// Insert a job: state `queued`, attempt 0. → [`Applied::Job`] with its
    /// `JobState{queued}` event.
    SubmitJob(NewJob),
    /// Move a job from `from` to `to`, fenced: refused with
    /// [`crate::StoreError::Fenced`] unless the row is still `(from, attempt)`.
    /// Entering `running` increments the attempt and sets `started_at`;
    /// entering a terminal state sets `finished_at`. → [`Applied::Job`] with
    /// the updated record and its `JobState` event.
    JobState {
        /// The job.
        job: JobId,
        /// The state the caller saw.
        from: JobState,
        /// The new state.
        to: JobState,
        /// The attempt the caller saw.
        attempt: u32,
        /// Why, in words; stored on the job and in the event.
        reason: Option<String>,
    },
    /// Put a `running` job back in the queue *without spending its attempt*
    /// (its run was interrupted: the host rebooted, the box vanished): like
    /// `JobState { from: Running, to: Queued }`, fenced the same way, but
    /// the attempt goes back to `attempt - 1`, so the next start is the same
    /// attempt again and never shows more attempts than allowed.
    /// → [`Applied::Job`].
    Requeue {
        /// The job.
        job: JobId,
        /// The attempt the caller saw (the interrupted one).
        attempt: u32,
        /// Why, in words.
        reason: Option<String>,
    },
    /// Record a spawned run. → [`Applied::Run`].
    StartRun(NewRun),
    /// Record the main pid of a started run and append its `RunStarted`
    /// event, together. → [`Applied::Event`]. Refused with
    /// [`crate::StoreError::UnknownRun`] for an unknown run.
    RunPid {
        /// The run.
        run: RunId,
        /// Its main pid.
        pid: u32,
    },
    /// Record how a run ended; refused with
    /// [`crate::StoreError::RunAlreadyEnded`] if it already has an end. Also
    /// sets the job's `cause` for job runs. → [`Applied::Event`] with its
    /// `RunExited` event.
    EndRun {
        /// The run.
        run: RunId,
        /// Why it ended.
        cause: ExitCause,
        /// The facts that decided it.
        evidence: Evidence,
        /// When it ended (also the event's time).
        ended_at: UnixMillis,
    },
    /// Store a post-mortem (replacing any earlier one of the same run). → [`Applied::Done`].
    PostMortem(PostMortem),
    /// Delete the post-mortems of runs that ended before `ended_before`,
    /// except those of a job still `queued` or `running` (its earlier
    /// attempts' post-mortems are what its retries are debugged with).
    /// The jobs and runs themselves stay: they are small, and the finished
    /// job counts on `/metrics` are counters that must never go down.
    /// → [`Applied::Pruned`].
    PrunePostMortems {
        /// The cut-off: runs that ended at or after it keep theirs.
        ended_before: UnixMillis,
    },
    /// Record that a slot of `template`'s schedule was handled (fired or
    /// skipped) and append its event, together; the stored slot only ever
    /// moves forward. → [`Applied::Event`].
    ScheduleSlot {
        /// The job template.
        template: String,
        /// The slot, in Unix milliseconds.
        slot: UnixMillis,
        /// `ScheduleFired` or `ScheduleSkipped`.
        kind: EventKind,
    },
    /// Append an event. → [`Applied::Event`].
    Event {
        /// The service or job template (`""` for the daemon).
        unit: String,
        /// What happened.
        kind: EventKind,
    },
    /// Remember that `service` was stopped by hand (`held`), so the next
    /// daemon keeps it down, or forget it (started again). → [`Applied::Done`].
    ServiceHeld {
        /// The service.
        service: String,
        /// Stopped and kept down (`true`), or free to start (`false`).
        held: bool,
    },
    /// Remember the replica count `stockade scale` gave `service`, over the
    /// spec's `replicas` (`Some`), or forget it (`None`: the spec's count
    /// again). → [`Applied::Done`].
    ServiceScaled {
        /// The service.
        service: String,
        /// The count and the spec's `replicas` it overrides.
        scale: Option<Scale>,
    },
    /// Remember that replica `replica` of `service` was stopped by hand
    /// (`stockade stop NAME[N]`), so the next daemon keeps it down, or
    /// forget it (started again). → [`Applied::Done`].
    ReplicaHeld {
        /// The service.
        service: String,
        /// The replica's index.
        replica: u32,
        /// Stopped and kept down (`true`), or free to start (`false`).
        held: bool,
    },
    /// Forget every held replica of `service` from index `from` on (`0`: a
    /// start of the whole service; `N`: a scale to `N`). → [`Applied::Done`].
    ReplicasReleased {
        /// The service.
        service: String,
        /// The first index released.
        from: u32,
    },
}

/// A replica count set by `stockade scale` ([`Write::ServiceScaled`],
/// [`crate::Store::scaled_services`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// The count the service runs.
    pub replicas: u32,
    /// The spec's `replicas` when it was scaled; a spec that says otherwise
    /// now wins and the scale is forgotten.
    pub spec_replicas: u32,
}

/// What one [`Write`] became once committed.
///
/// Events returned here are committed: publish them to subscribers in order.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "returned once per write and consumed at once; boxing would only burden callers"
)]
pub enum Applied {
    /// `SubmitJob` and `JobState`: the job as it now is, and the `JobState` event.
    Job(JobRecord, Event),
    /// `StartRun`: the new run's id.
    Run(RunId),
    /// `RunPid` (the `RunStarted` event), `EndRun` (the `RunExited` event) and `Event`.
    Event(Event),
    /// `PostMortem` and `ServiceHeld`.
    Done,
    /// `PrunePostMortems`: how many were deleted and the bytes of their bodies.
    Pruned {
        /// Post-mortems deleted.
        postmortems: u64,
        /// The total length of their JSON bodies.
        bytes: u64,
    },
}

impl Applied {
    /// The event this write appended, if any.
    pub fn event(&self) -> Option<&Event> {
        match self {
            Applied::Job(_, event) | Applied::Event(event) => Some(event),
            Applied::Run(_) | Applied::Done | Applied::Pruned { .. } => None,
        }
    }

    /// The job record, for `SubmitJob` and `JobState`.
    pub fn job(&self) -> Option<&JobRecord> {
        match self {
            Applied::Job(job, _) => Some(job),
            _ => None,
        }
    }

    /// The run id, for `StartRun`.
    pub fn run(&self) -> Option<RunId> {
        match self {
            Applied::Run(run) => Some(*run),
            _ => None,
        }
    }
}
