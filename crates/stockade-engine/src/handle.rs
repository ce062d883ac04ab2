//! [`EngineHandle`]: the cloneable front of the engine task.

use crate::EngineError;
use crate::command::{Command, Reply, ServiceAction, ShutdownPlan, ShutdownReport};
use stockade_proto::{
    Event, JobId, JobRequest, JobView, PoolView, ReplicaView, StatusView, Submitted,
};
use stockade_store::JobFilter;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Talks to the engine task. Every method sends one [`Command`] and awaits its
/// reply; when the engine has ended they return [`EngineError::ShuttingDown`].
#[derive(Debug, Clone)]
pub struct EngineHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Sender<Event>,
}

impl EngineHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| EngineError::ShuttingDown)?;
        rx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// Every service replica and pool.
    pub async fn status(&self) -> Result<StatusView, EngineError> {
        self.ask(Command::Status).await
    }

    /// Start, stop or restart a service.
    pub async fn service(
        &self,
        name: &str,
        action: ServiceAction,
    ) -> Result<Vec<ReplicaView>, EngineError> {
        self.service_replica(name, None, action).await
    }

    /// Start, stop or restart one replica of a service (`replica`), or every
    /// one (`None`). Stopping every replica is remembered across daemon
    /// restarts; starting or restarting the service forgets it.
    pub async fn service_replica(
        &self,
        name: &str,
        replica: Option<u32>,
        action: ServiceAction,
    ) -> Result<Vec<ReplicaView>, EngineError> {
        let name = name.to_string();
        self.ask(|reply| Command::Service { name, action, replica, reply }).await
    }

    /// Run `replicas` replicas of `name` from now on (`stockade scale`):
    /// new ones start, retired ones are stopped and leave the table.
    pub async fn scale(&self, name: &str, replicas: u32) -> Result<Vec<ReplicaView>, EngineError> {
        let name = name.to_string();
        self.ask(|reply| Command::Scale { name, replicas, reply }).await
    }

    /// Submit one job; returns once it is committed.
    pub async fn submit(&self, request: JobRequest) -> Result<Submitted, EngineError> {
        let mut all = self.submit_many(vec![request]).await?;
        all.pop().ok_or(EngineError::ShuttingDown)
    }

    /// Submit a batch atomically; returns once all are committed.
    pub async fn submit_many(
        &self,
        requests: Vec<JobRequest>,
    ) -> Result<Vec<Submitted>, EngineError> {
        self.ask(|reply| Command::Submit { requests, reply }).await
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> Result<JobView, EngineError> {
        self.ask(|reply| Command::Job { id, reply }).await
    }

    /// Live jobs matching `filter`, newest first (at most `filter.limit`).
    pub async fn jobs(&self, filter: JobFilter) -> Result<Vec<JobView>, EngineError> {
        Ok(self.job_page(filter, None).await?.jobs)
    }

    /// One page of live jobs matching `filter`, newest first, with ids below
    /// `before` (the previous page's `next`); with the cursor of the next
    /// page and how many match in all.
    pub async fn job_page(
        &self,
        filter: JobFilter,
        before: Option<JobId>,
    ) -> Result<crate::JobPage, EngineError> {
        self.ask(|reply| Command::Jobs { filter, before, reply }).await
    }

    /// Cancel a job.
    pub async fn cancel(&self, id: JobId) -> Result<JobView, EngineError> {
        self.ask(|reply| Command::Cancel { id, reply }).await
    }

    /// Every pool.
    pub async fn queue(&self) -> Result<Vec<PoolView>, EngineError> {
        self.ask(Command::Queue).await
    }

    /// The room this host has for more jobs: free memory and tasks as
    /// admission counts them, and free slots per pool.
    pub async fn room(&self) -> Result<crate::Room, EngineError> {
        self.ask(Command::Room).await
    }

    /// Every job template's schedule and its next slot.
    pub async fn schedules(&self) -> Result<Vec<stockade_proto::ScheduleView>, EngineError> {
        self.ask(Command::Schedules).await
    }

    /// Replicas that are not ready yet.
    pub async fn laggards(&self) -> Result<Vec<ReplicaView>, EngineError> {
        self.ask(Command::Laggards).await
    }

    /// The engine's counters.
    pub async fn stats(&self) -> Result<crate::EngineStats, EngineError> {
        self.ask(Command::Stats).await
    }

    /// Record an event through the engine (journaled, then published).
    pub async fn record(
        &self,
        unit: &str,
        kind: stockade_proto::EventKind,
    ) -> Result<(), EngineError> {
        let unit = unit.to_string();
        self.ask(|reply| Command::Record { unit, kind, reply }).await
    }

    /// Stop everything and end the engine.
    pub async fn shutdown(&self) -> Result<ShutdownReport, EngineError> {
        self.ask(Command::Shutdown).await
    }

    /// Stop per `plan` (leave jobs, or everything, for the next daemon to
    /// adopt) and end the engine.
    pub async fn shutdown_with(&self, plan: ShutdownPlan) -> Result<ShutdownReport, EngineError> {
        self.ask(|reply| Command::ShutdownWith { plan, reply }).await
    }

    /// Admit nothing new from now on; running jobs go on (`down --drain`).
    pub async fn drain(&self) -> Result<(), EngineError> {
        self.ask(Command::Drain).await
    }

    /// Plan the move to `spec` and, unless `dry_run`, carry it out
    /// (`stockade reload`, SIGHUP).
    pub async fn reload(
        &self,
        spec: std::sync::Arc<stockade_spec::Spec>,
        dry_run: bool,
    ) -> Result<stockade_proto::ReloadPlan, EngineError> {
        self.ask(|reply| Command::Reload { spec, dry_run, reply }).await
    }

    /// Events as they are committed, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}
