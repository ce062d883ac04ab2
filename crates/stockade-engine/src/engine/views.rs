//! What the API sees: views built from the engine's state.

use super::job::Job;
use super::job_life::{JobLife, StopWhy};
use super::{Engine, answer};
use crate::EngineError;
use crate::command::Reply;
use crate::replica::ReplicaState;
use std::time::Duration;
use stockade_proto::{
    JobId, JobState, JobView, PoolView, ReplicaView, ScaledService, StatusView, Usage,
};
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
        source: record.source,
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
        host: None,
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
                let held = service.held.contains(&replica.index)
                    && matches!(replica.state, ReplicaState::Stopped { .. });
                let reason = match held {
                    true => Some(super::service_overrides::hold_reason(
                        &service.spec.name,
                        Some(replica.index),
                    )),
                    false => replica.reason.clone(),
                };
                views.push(ReplicaView {
                    service: service.spec.name.clone(),
                    replica: replica.index,
                    state: replica.state.public(),
                    reason,
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

    pub(super) fn room(&self) -> crate::Room {
        let free = self.ledger.free();
        crate::Room {
            memory: free.and_then(|f| f.memory),
            tasks: free.and_then(|f| f.tasks),
            pools: self
                .pools
                .values()
                .map(|pool| {
                    let busy = pool.running + pool.finishing + pool.queue.len() as u64;
                    (pool.spec.name.clone(), pool.limit.saturating_sub(busy))
                })
                .collect(),
            draining: self.draining || self.shutdown.is_some(),
        }
    }

    /// The services a `stockade scale` runs at another count than the spec's.
    pub(super) fn scaled_views(&self) -> Vec<ScaledService> {
        let scaled = self.services.iter().filter(|s| s.scaled.is_some());
        scaled
            .map(|s| ScaledService {
                service: s.spec.name.clone(),
                replicas: s.count(),
                spec_replicas: s.spec.replicas,
            })
            .collect()
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
                blocking_reason: pool.held_because().map(str::to_string),
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
        view.run = job.life.run();
        view.pid = job.life.pid();
        view.started_at = job.life.started_at().or(job.record.started_at);
        view.state = super::table::shown(job);
        match &job.life {
            JobLife::Queued { retry_at, .. } => {
                if let Some(pool) = self.pools.get(&job.record.pool) {
                    let ahead = pool.position(&job.key());
                    view.position = Some(ahead);
                    let retry = retry_at.filter(|at| *at > tokio::time::Instant::now());
                    view.waiting = Some(match (retry, pool.held_because()) {
                        (Some(at), _) => format!(
                            "retry backoff: starts in {}s",
                            at.saturating_duration_since(tokio::time::Instant::now()).as_secs()
                        ),
                        (None, Some(reason)) if ahead == 0 => reason.to_string(),
                        (None, Some(reason)) => format!("{ahead} job(s) ahead of it; {reason}"),
                        (None, None) => format!("{ahead} job(s) ahead of it"),
                    });
                }
            }
            JobLife::Launching { .. }
            | JobLife::Running { .. }
            | JobLife::Stopping { .. }
            | JobLife::Done { .. } => {}
        }
        if job.life.stopping() == Some(StopWhy::Cancel) {
            view.reason = Some("cancelling".into());
        }
        if matches!(job.life, JobLife::Done { .. })
            && let Some(why) = self.unrecorded.reason()
        {
            view.reason = Some(format!("end not yet recorded: {why}"));
        }
        view
    }

    pub(super) fn job_view_by_id(&self, id: JobId) -> Result<JobView, EngineError> {
        self.jobs.get(&id).map(|j| self.job_view(j)).ok_or(EngineError::UnknownJob { id })
    }

    /// A page of live jobs (queued or running) matching `filter`, newest
    /// first, below `before`: the index picks the ids, and views are built
    /// for those alone.
    pub(super) fn job_page(&self, filter: &JobFilter, before: Option<JobId>) -> crate::JobPage {
        let page = self.jobs.page(filter, before);
        let jobs = page.ids.iter().filter_map(|id| self.jobs.get(id)).map(|j| self.job_view(j));
        crate::JobPage { jobs: jobs.collect(), next: page.next, total: page.total }
    }

    /// Fill in usage from the boxes of the running ones, then hand the views
    /// to `finish` (on a small task when some box is asked, so the engine
    /// never waits).
    pub(super) fn with_usage(
        &mut self,
        mut views: Vec<JobView>,
        finish: impl FnOnce(Vec<JobView>) + Send + 'static,
    ) {
        let mut asks: Vec<(usize, oneshot::Receiver<Usage>)> = Vec::new();
        for (i, view) in views.iter().enumerate() {
            if let (Some(run), JobState::Running) = (view.run, view.state) {
                let (tx, rx) = oneshot::channel();
                self.effects.push(super::Effect::AskUsage { run, reply: tx });
                asks.push((i, rx));
            }
        }
        if asks.is_empty() {
            finish(views);
            return;
        }
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + USAGE_WAIT;
            for (i, rx) in asks {
                if let Ok(Ok(usage)) = tokio::time::timeout_at(deadline, rx).await {
                    views[i].usage = Some(usage);
                }
            }
            finish(views);
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
            scaled: self.scaled_views(),
            pools: self.pool_views(),
            schedules: self.schedule_views(),
            spec_file: None,
        };
        let mut asks: Vec<(usize, oneshot::Receiver<Usage>)> = Vec::new();
        for (i, replica) in view.services.iter().enumerate() {
            if let Some(run) = replica.run {
                let (tx, rx) = oneshot::channel();
                self.effects.push(super::Effect::AskUsage { run, reply: tx });
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
