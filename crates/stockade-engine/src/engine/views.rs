//! What the API sees: views built from the engine's state.

use super::jobs::{Job, Phase};
use super::{Engine, answer};
use crate::EngineError;
use crate::command::Reply;
use crate::replica::ReplicaState;
use std::time::Duration;
use stockade_proto::{JobId, JobState, JobView, PoolView, ReplicaView, StatusView, Usage};
use stockade_spec::Concurrency;
use stockade_store::{JobFilter, JobRecord};
use tokio::sync::oneshot;

/// How long a status request waits for usage numbers from live boxes.
const USAGE_WAIT: Duration = Duration::from_millis(250);

/// The view of a job the engine no longer holds (terminal): built from its record.
pub fn job_view_from_record(record: &JobRecord) -> JobView {
    JobView {
        id: record.id,
        template: record.template.clone(),
        pool: record.pool.clone(),
        state: record.state,
        args: record.args.clone(),
        priority: record.priority,
        attempt: record.attempt,
        max_attempts: record.max_attempts,
        position: None,
        waiting: None,
        run: None,
        pid: None,
        cause: record.cause.clone(),
        reason: record.reason.clone(),
        submitted_at: record.submitted_at,
        started_at: record.started_at,
        finished_at: record.finished_at,
        usage: None,
        limits: None,
        runs: Vec::new(),
    }
}

impl Engine {
    pub(super) fn replica_views(&self, only: Option<usize>) -> Vec<ReplicaView> {
        let mut views = Vec::new();
        for (s, service) in self.services.iter().enumerate() {
            if only.is_some_and(|o| o != s) {
                continue;
            }
            for replica in &service.replicas {
                views.push(ReplicaView {
                    service: service.spec.name.clone(),
                    replica: replica.index,
                    state: replica.state.public(),
                    reason: replica.reason.clone(),
                    run: replica.state.run(),
                    pid: replica.state.pid(),
                    restarts: replica.restarts,
                    started_at: replica.run_started.map(|(_, ms)| ms),
                    last_cause: match &replica.state {
                        ReplicaState::Backoff { last, .. } | ReplicaState::GaveUp { last } => {
                            Some(last.clone())
                        }
                        ReplicaState::Stopped { last } => last.clone(),
                        _ => None,
                    },
                    usage: None,
                    limits: service.spec.limits.clone(),
                });
            }
        }
        views
    }

    pub(super) fn pool_views(&self) -> Vec<PoolView> {
        self.pools
            .values()
            .map(|pool| PoolView {
                name: pool.spec.name.clone(),
                running: pool.running + pool.finishing,
                queued: pool.queue.len() as u64,
                max_concurrency: pool.limit,
                utilization_percent: ((pool.running + pool.finishing) * 100)
                    .checked_div(pool.limit)
                    .unwrap_or(0),
                blocking_reason: pool.blocking.clone(),
                mode: match pool.spec.max_concurrency {
                    Concurrency::Fixed(_) => "fixed".into(),
                    Concurrency::Auto { .. } => "auto".into(),
                },
                max_queued: pool.spec.max_queued,
                limit_reason: pool.limit_reason.clone(),
            })
            .collect()
    }

    pub(super) fn laggards(&self) -> Vec<ReplicaView> {
        let with_readiness: Vec<usize> = (0..self.services.len())
            .filter(|s| self.services[*s].spec.readiness.is_some())
            .collect();
        self.replica_views(None)
            .into_iter()
            .filter(|v| {
                let s = self.services.iter().position(|svc| svc.spec.name == v.service);
                s.is_some_and(|s| with_readiness.contains(&s))
                    && v.state != stockade_proto::ServiceState::Ready
            })
            .collect()
    }

    pub(super) fn job_view(&self, job: &Job) -> JobView {
        let mut view = job_view_from_record(&job.record);
        view.limits = self.spec.jobs.get(&job.record.template).map(|t| t.limits.clone());
        view.run = job.run;
        view.pid = job.pid;
        view.started_at = job.started_at.or(job.record.started_at);
        match job.phase {
            Phase::Queued => {
                view.state = JobState::Queued;
                if let Some(pool) = self.pools.get(&job.record.pool) {
                    let ahead =
                        pool.position(&(std::cmp::Reverse(job.record.priority), job.record.id));
                    view.position = Some(ahead);
                    let retry = job.not_before.filter(|at| *at > tokio::time::Instant::now());
                    view.waiting = Some(match (retry, &pool.blocking) {
                        (Some(at), _) => format!(
                            "retry backoff: starts in {}s",
                            at.saturating_duration_since(tokio::time::Instant::now()).as_secs()
                        ),
                        (None, Some(reason)) if ahead == 0 => reason.clone(),
                        (None, Some(reason)) => format!("{ahead} job(s) ahead of it; {reason}"),
                        (None, None) => format!("{ahead} job(s) ahead of it"),
                    });
                }
            }
            Phase::Launching | Phase::Running | Phase::Stopping => view.state = JobState::Running,
            // Until its end is committed, a job shows its last committed state.
            Phase::Finishing(_) => {}
        }
        if job.cancel {
            view.reason = Some("cancelling".into());
        }
        view
    }

    pub(super) fn job_view_by_id(&self, id: JobId) -> Result<JobView, EngineError> {
        self.jobs.get(&id).map(|j| self.job_view(j)).ok_or(EngineError::UnknownJob { id })
    }

    /// Live jobs (queued or running) matching `filter`, newest first.
    pub(super) fn job_views(&self, filter: &JobFilter) -> Result<Vec<JobView>, EngineError> {
        let mut views: Vec<JobView> = self
            .jobs
            .values()
            .filter(|j| filter.template.as_ref().is_none_or(|t| *t == j.record.template))
            .filter(|j| filter.pool.as_ref().is_none_or(|p| *p == j.record.pool))
            .map(|j| self.job_view(j))
            .filter(|v| filter.states.is_empty() || filter.states.contains(&v.state))
            .collect();
        views.sort_by_key(|v| std::cmp::Reverse(v.id));
        if let Some(limit) = filter.limit {
            views.truncate(limit);
        }
        Ok(views)
    }

    /// Answer with job views, the running ones with usage from their boxes.
    pub(super) fn reply_jobs(&mut self, mut views: Vec<JobView>, reply: Reply<Vec<JobView>>) {
        let mut asks: Vec<(usize, oneshot::Receiver<Usage>)> = Vec::new();
        for (i, view) in views.iter().enumerate() {
            if let (Some(run), JobState::Running) = (view.run, view.state) {
                let (tx, rx) = oneshot::channel();
                self.launcher.usage(run, tx);
                asks.push((i, rx));
            }
        }
        if asks.is_empty() {
            answer(reply, Ok(views));
            return;
        }
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + USAGE_WAIT;
            for (i, rx) in asks {
                if let Ok(Ok(usage)) = tokio::time::timeout_at(deadline, rx).await {
                    views[i].usage = Some(usage);
                }
            }
            answer(reply, Ok(views));
        });
    }

    /// Answer a status request, with usage read from every live box.
    pub(super) fn reply_status(&mut self, reply: Reply<StatusView>) {
        let mut view = StatusView {
            pid: std::process::id(),
            started_at: self.started_at,
            sandbox: self.sandbox.clone(),
            warnings: self.sandbox_warnings.clone(),
            spec: self.spec.path.display().to_string(),
            services: self.replica_views(None),
            pools: self.pool_views(),
        };
        let mut asks: Vec<(usize, oneshot::Receiver<Usage>)> = Vec::new();
        for (i, replica) in view.services.iter().enumerate() {
            if let Some(run) = replica.run {
                let (tx, rx) = oneshot::channel();
                self.launcher.usage(run, tx);
                asks.push((i, rx));
            }
        }
        if asks.is_empty() {
            answer(reply, Ok(view));
            return;
        }
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + USAGE_WAIT;
            for (i, rx) in asks {
                if let Ok(Ok(usage)) = tokio::time::timeout_at(deadline, rx).await {
                    view.services[i].usage = Some(usage);
                }
            }
            answer(reply, Ok(view));
        });
    }
}
