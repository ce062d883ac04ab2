//! [`Command`]: every request the engine answers, one variant per verb, each
//! with its oneshot reply.

use crate::EngineError;
use stockade_proto::{JobId, JobRequest, JobView, PoolView, ReplicaView, StatusView, Submitted};
use stockade_store::JobFilter;
use tokio::sync::oneshot;

/// A reply channel.
pub type Reply<T> = oneshot::Sender<Result<T, EngineError>>;

/// What to do to a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    /// Start it (clears `gave_up`).
    Start,
    /// Stop every replica and keep it down.
    Stop,
    /// Stop, then start again (clears `gave_up`).
    Restart,
}

/// A request to the engine.
#[derive(Debug)]
pub enum Command {
    /// Everything, for `GET /api/status`.
    Status(Reply<StatusView>),
    /// Start, stop or restart a service.
    Service {
        /// The service.
        name: String,
        /// What to do.
        action: ServiceAction,
        /// Only this replica (`name[3]`); `None`: every replica.
        replica: Option<u32>,
        /// Answered once the action is under way.
        reply: Reply<Vec<ReplicaView>>,
    },
    /// Run `replicas` replicas of a service from now on.
    Scale {
        /// The service.
        name: String,
        /// How many.
        replicas: u32,
        /// The service's replicas once the change is under way.
        reply: Reply<Vec<ReplicaView>>,
    },
    /// Submit jobs (one or a batch); answered once committed.
    Submit {
        /// The submissions.
        requests: Vec<JobRequest>,
        /// One answer per submission, or one error for all.
        reply: Reply<Vec<Submitted>>,
    },
    /// One job.
    Job {
        /// Which.
        id: JobId,
        /// Its view.
        reply: Reply<JobView>,
    },
    /// A page of live jobs.
    Jobs {
        /// Which (`limit` is the page size).
        filter: JobFilter,
        /// Only ids below this (the previous page's `next`).
        before: Option<JobId>,
        /// Their views, newest first, with the next cursor and the total.
        reply: Reply<JobPage>,
    },
    /// Cancel a queued or running job.
    Cancel {
        /// Which.
        id: JobId,
        /// The job as it now is (a running job reports `running` until its box is empty).
        reply: Reply<JobView>,
    },
    /// Every pool, for `GET /api/queue/status`.
    Queue(Reply<Vec<PoolView>>),
    /// The room this host has for more jobs (a cluster member's claim size).
    Room(Reply<crate::Room>),
    /// Every job template's schedule.
    Schedules(Reply<Vec<stockade_proto::ScheduleView>>),
    /// Replicas whose readiness does not pass (empty = ready).
    Laggards(Reply<Vec<ReplicaView>>),
    /// The engine's counters, for `/metrics`.
    Stats(Reply<crate::EngineStats>),
    /// Record an event (an alert from the monitor); answered once queued
    /// for commit.
    Record {
        /// The unit it is about (`""` for the daemon).
        unit: String,
        /// What to record.
        kind: stockade_proto::EventKind,
        /// Answered when queued.
        reply: Reply<()>,
    },
    /// Stop everything in reverse dependency order, then end the engine.
    Shutdown(Reply<ShutdownReport>),
    /// [`Command::Shutdown`] with a plan: what to leave running for the next
    /// daemon to adopt instead of stopping it.
    ShutdownWith {
        /// What to stop and what to leave.
        plan: ShutdownPlan,
        /// Answered once everything stopped is stopped and every write committed.
        reply: Reply<ShutdownReport>,
    },
    /// Reload: plan the move from the running spec to `spec` and, unless
    /// `dry_run`, carry it out. Answered with the plan once it is under way
    /// (limits written, stops sent); restarts and starts follow.
    Reload {
        /// The new, validated spec.
        spec: std::sync::Arc<stockade_spec::Spec>,
        /// Only plan.
        dry_run: bool,
        /// The plan, annotated with what the engine knows.
        reply: Reply<stockade_proto::ReloadPlan>,
    },
    /// Admit nothing new (submissions are refused with `draining`, queued
    /// jobs stay queued); running jobs go on. Answered at once.
    Drain(Reply<()>),
}

/// What a shutdown stops and what it leaves running (their boxes untouched,
/// nothing journaled as ended) for the next daemon to adopt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownPlan {
    /// Leave running jobs running (`[daemon] on_stop = "leave"`, an upgrade).
    pub leave_jobs: bool,
    /// Leave service replicas running (an upgrade).
    pub leave_services: bool,
}

/// One page of a job listing.
#[derive(Debug, Clone)]
pub struct JobPage {
    /// The views, newest first.
    pub jobs: Vec<JobView>,
    /// Pass as `before` for the next page (`None`: this was the last).
    pub next: Option<JobId>,
    /// How many live jobs match the filter in all.
    pub total: u64,
}

/// How a shutdown went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Runs that ended within their grace.
    pub clean: u32,
    /// Runs whose box had to be killed after the grace.
    pub killed: u32,
    /// Jobs that were running and were stopped and queued again: they run
    /// again when the daemon is back.
    pub requeued: Vec<JobId>,
    /// Jobs left running in their boxes for the next daemon to adopt.
    pub left: Vec<JobId>,
    /// Service replicas left running for the next daemon to adopt.
    pub left_replicas: u32,
    /// Jobs queued at the end (the requeued ones included): they run when
    /// the daemon is back.
    pub queued: u64,
}
