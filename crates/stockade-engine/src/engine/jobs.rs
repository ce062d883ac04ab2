//! Jobs: pools and their queues (priority, then FIFO), admission, run
//! timeouts, queue timeouts, retries by cause, cancel, and recovery.
//!
//! The engine keeps only live jobs (queued or running) in memory; a job that
//! reaches a terminal state lives on in the store alone.

use super::commit::Followup;
use super::timers::JobTimer;
use super::{Engine, Owner};
use crate::command::Reply;
use crate::launcher::{Exit, LaunchRequest, RunEvent, RunEventKind, StopReason, StopRequest};
use crate::{EngineError, postmortem};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use stockade_proto::{
    EventKind, Evidence, ExitCause, JobId, JobRequest, JobState, QueuePosition, RunId, Submitted,
    UnitKind, UnixMillis, now_millis,
};
use stockade_spec::{Concurrency, JobSpec, PoolSpec, Spec};
use stockade_store::{Applied, JobRecord, NewJob, NewRun, StoreError, Write};
use tokio::time::Instant;

/// Jobs are stopped with SIGTERM and this much grace before the box is killed.
pub(super) const JOB_STOP_GRACE: Duration = Duration::from_secs(10);
/// The longest retry backoff.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(600);

pub(super) struct Pool {
    pub spec: PoolSpec,
    /// Queued jobs in start order: priority (high first), then id (FIFO).
    pub queue: BTreeSet<(Reverse<i32>, JobId)>,
    /// Jobs launching or running.
    pub running: u64,
    /// The limit in force.
    pub limit: u64,
    /// Submissions not yet committed (count against `max_queued`).
    pub submitting: u64,
    /// Why the head of the queue is not starting.
    pub blocking: Option<String>,
    /// For `auto` pools: the adaptive limit and recent outcomes.
    pub adaptive: Option<super::admission::Adaptive>,
    /// Why the limit is what it is (auto pools).
    pub limit_reason: Option<String>,
    /// The kind of hold in force, to count each hold once.
    pub holding: Option<&'static str>,
    /// Jobs that ended but whose end is not committed yet: views still count
    /// them as running (their last committed state), admission does not.
    pub finishing: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Queued,
    Launching,
    Running,
    Stopping,
    /// Reached a terminal state; kept until that state is committed, so a
    /// listing never shows the store's stale `running` in between.
    Finishing(JobState),
}

pub(super) struct Job {
    pub record: JobRecord,
    pub phase: Phase,
    pub queued_at: Instant,
    pub not_before: Option<Instant>,
    pub deadline: Option<Instant>,
    pub cancel: bool,
    pub run: Option<RunId>,
    pub pid: Option<u32>,
    pub started_at: Option<UnixMillis>,
}

impl Job {
    fn queued(record: JobRecord, not_before: Option<Instant>) -> Job {
        Job {
            record,
            phase: Phase::Queued,
            queued_at: Instant::now(),
            not_before,
            deadline: None,
            cancel: false,
            run: None,
            pid: None,
            started_at: None,
        }
    }

    fn key(&self) -> (Reverse<i32>, JobId) {
        (Reverse(self.record.priority), self.record.id)
    }
}

/// The pools of the spec, with `default` always present.
pub(super) fn pools_from_spec(spec: &Spec) -> BTreeMap<String, Pool> {
    let mut pools: BTreeMap<String, Pool> =
        spec.pools.values().map(|p| (p.name.clone(), Pool::new(p.clone()))).collect();
    pools.entry("default".into()).or_insert_with(|| {
        Pool::new(PoolSpec {
            name: "default".into(),
            max_concurrency: Concurrency::Fixed(4),
            max_queued: 10_000,
            queue_timeout: None,
        })
    });
    pools
}

impl Pool {
    fn new(spec: PoolSpec) -> Pool {
        let (limit, adaptive) = match spec.max_concurrency {
            Concurrency::Fixed(n) => (n as u64, None),
            Concurrency::Auto { min, max } => {
                (min.max(1) as u64, Some(super::admission::Adaptive::new(min, max)))
            }
        };
        Pool {
            spec,
            queue: BTreeSet::new(),
            running: 0,
            limit,
            submitting: 0,
            blocking: None,
            adaptive,
            limit_reason: None,
            holding: None,
            finishing: 0,
        }
    }

    /// Jobs ahead of `key` in the queue. Counts from whichever end is
    /// nearer to the key's side: a new job of ordinary priority lands at the
    /// back, so answering its submission costs O(1), not O(queue).
    pub fn position(&self, key: &(Reverse<i32>, JobId)) -> u64 {
        let behind = self.queue.range(key..).count() as u64;
        (self.queue.len() as u64).saturating_sub(behind)
    }
}

impl Engine {
    fn template(&self, name: &str) -> Option<&JobSpec> {
        self.spec.jobs.get(name)
    }

    pub(super) fn submit(&mut self, requests: Vec<JobRequest>, reply: Reply<Vec<Submitted>>) {
        if self.shutdown.is_some() {
            let _ = reply.send(Err(EngineError::ShuttingDown));
            return;
        }
        let mut jobs = Vec::with_capacity(requests.len());
        let mut per_pool: BTreeMap<String, u64> = BTreeMap::new();
        for request in requests {
            let Some(template) = self.template(&request.template) else {
                let known = self.spec.jobs.keys().cloned().collect();
                let _ =
                    reply.send(Err(EngineError::UnknownTemplate { name: request.template, known }));
                return;
            };
            *per_pool.entry(template.pool.clone()).or_default() += 1;
            jobs.push(NewJob {
                template: template.name.clone(),
                pool: template.pool.clone(),
                args: request.args,
                env: request.env,
                priority: request.priority.unwrap_or(template.priority),
                max_attempts: template.retries.max + 1,
                submitted_at: now_millis(),
            });
        }
        for (name, adding) in &per_pool {
            let Some(pool) = self.pools.get(name) else {
                let message = format!("job template points at pool `{name}`, which does not exist");
                let _ = reply.send(Err(EngineError::BadRequest { message }));
                return;
            };
            let queued = pool.queue.len() as u64 + pool.submitting;
            if queued + adding > pool.spec.max_queued {
                let drain_per_sec = pool.limit.max(1);
                let _ = reply.send(Err(EngineError::QueueFull {
                    pool: name.clone(),
                    queued,
                    max_queued: pool.spec.max_queued,
                    retry_after_secs: (adding / drain_per_sec).clamp(1, 60),
                }));
                return;
            }
        }
        for (name, adding) in &per_pool {
            if let Some(pool) = self.pools.get_mut(name) {
                pool.submitting += adding;
            }
        }
        let pools = jobs.iter().map(|j| j.pool.clone()).collect();
        let writes = jobs.into_iter().map(Write::SubmitJob).collect();
        self.commits.push(writes, Followup::Submitted { reply, pools });
    }

    pub(super) fn submitted(
        &mut self,
        reply: Reply<Vec<Submitted>>,
        pools: Vec<String>,
        result: Result<Vec<Applied>, StoreError>,
    ) {
        for name in &pools {
            if let Some(pool) = self.pools.get_mut(name) {
                pool.submitting = pool.submitting.saturating_sub(1);
            }
        }
        let applied = match result {
            Ok(applied) => applied,
            Err(e) => {
                let _ = reply.send(Err(EngineError::Store(e)));
                return;
            }
        };
        let mut answers = Vec::with_capacity(applied.len());
        for record in applied.iter().filter_map(Applied::job) {
            let job = Job::queued(record.clone(), None);
            let key = job.key();
            if !self.pools.contains_key(&record.pool) {
                continue;
            }
            self.enqueue(job);
            let Some(pool) = self.pools.get(&record.pool) else { continue };
            answers.push(Submitted {
                id: record.id,
                status: JobState::Queued,
                queue: QueuePosition {
                    position: pool.position(&key),
                    running: pool.running,
                    max_concurrency: pool.limit,
                },
            });
        }
        let _ = reply.send(Ok(answers));
    }

    /// Put a job in its pool's queue and arm its timers (queue timeout, retry).
    fn enqueue(&mut self, job: Job) {
        let id = job.record.id;
        if let Some(pool) = self.pools.get_mut(&job.record.pool) {
            pool.queue.insert(job.key());
            if let Some(timeout) = pool.spec.queue_timeout {
                self.timers.arm(job.queued_at + timeout, JobTimer::Expire, id);
            }
        }
        if let Some(at) = job.not_before {
            self.timers.arm(at, JobTimer::Retry, id);
        }
        self.jobs.insert(id, job);
    }

    /// Start queued jobs while their pools have room.
    pub(super) fn admit_jobs(&mut self, now: Instant) {
        let names: Vec<String> = self.pools.keys().cloned().collect();
        for name in names {
            loop {
                let pool = &self.pools[&name];
                if pool.queue.is_empty() {
                    if let Some(p) = self.pools.get_mut(&name) {
                        p.blocking = None;
                        p.holding = None;
                    }
                    break;
                }
                if pool.running >= pool.limit {
                    let reason = format!("pool full: {}/{} running", pool.running, pool.limit);
                    self.hold(&name, "pool_full", reason);
                    break;
                }
                let next = pool.queue.iter().copied().find(|(_, id)| {
                    self.jobs.get(id).is_none_or(|j| j.not_before.is_none_or(|at| at <= now))
                });
                let Some(key) = next else {
                    self.hold(&name, "retry_backoff", "waiting out retry backoff".to_string());
                    break;
                };
                if let Some(job) = self.jobs.get(&key.1)
                    && let Some(template) = self.spec.jobs.get(&job.record.template)
                {
                    let need = self.requests.need(&template.name, &name, &template.limits);
                    if let Err(hold) = self.take_room(key.1, &need) {
                        self.hold(&name, "host_headroom", hold);
                        break;
                    }
                }
                let Some(pool) = self.pools.get_mut(&name) else { break };
                pool.queue.remove(&key);
                pool.holding = None;
                if let Some(job) = self.jobs.get(&key.1) {
                    let waited = job.queued_at.elapsed().as_secs_f64();
                    self.stats.queue_wait.entry(name.clone()).or_default().observe(waited);
                }
                self.stats.admission(&name, "admitted");
                pool.running += 1;
                self.start_job(key.1);
            }
        }
    }

    fn start_job(&mut self, id: JobId) {
        let Some(job) = self.jobs.get(&id) else { return };
        let record = job.record.clone();
        let Some(template) = self.template(&record.template) else {
            tracing::error!(job = %id, template = %record.template, "template vanished");
            return;
        };
        let limits = template.limits.clone();
        let box_name = self.box_name(&record.template, &format!("j{id}"));
        let writes = vec![
            Write::JobState {
                job: id,
                from: JobState::Queued,
                to: JobState::Running,
                attempt: record.attempt,
                reason: None,
            },
            Write::StartRun(NewRun {
                unit: record.template.clone(),
                kind: UnitKind::Job,
                job: Some(id),
                replica: 0,
                attempt: record.attempt + 1,
                pid: None,
                box_name: box_name.clone(),
                started_at: now_millis(),
                limits,
            }),
        ];
        if let Some(job) = self.jobs.get_mut(&id) {
            job.phase = Phase::Launching;
        }
        self.commits.push(writes, Followup::LaunchJob { job: id, box_name });
    }

    pub(super) fn launch_job_committed(
        &mut self,
        id: JobId,
        box_name: String,
        result: Result<Vec<Applied>, StoreError>,
    ) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let (record, run) = match &result {
            Ok(applied) => (
                applied.iter().find_map(Applied::job).cloned(),
                applied.iter().find_map(Applied::run),
            ),
            Err(_) => (None, None),
        };
        let (Some(record), Some(run)) = (record, run) else {
            tracing::error!(job = %id, "could not start job: {:?}", result.err());
            let Some(mut job) = self.jobs.remove(&id) else { return };
            self.ledger.release(id);
            job.phase = Phase::Queued;
            job.not_before = Some(Instant::now() + Duration::from_secs(1));
            if let Some(pool) = self.pools.get_mut(&job.record.pool) {
                pool.running = pool.running.saturating_sub(1);
            }
            self.enqueue(job);
            return;
        };
        job.record = record.clone();
        self.runs.insert(run, Owner::Job(id));
        if job.cancel || self.shutdown.is_some() {
            // Journaled as running but never launched: end it at once.
            job.run = Some(run);
            let exit = Exit::without_box(ExitCause::Stopped, "stopped before it was launched");
            self.job_exited(id, run, exit);
            return;
        }
        let Some(template) = self.spec.jobs.get(&record.template) else { return };
        job.phase = Phase::Running;
        job.run = Some(run);
        job.started_at = record.started_at;
        job.deadline = template.timeout.map(|t| Instant::now() + t);
        if let Some(at) = job.deadline {
            self.timers.arm(at, JobTimer::Timeout, id);
        }
        let env = template
            .env
            .iter()
            .chain(record.env.iter())
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain([
                ("STOCKADE_JOB_ID".to_string(), id.to_string()),
                ("STOCKADE_ATTEMPT".to_string(), record.attempt.to_string()),
            ])
            .collect();
        let request = LaunchRequest {
            run,
            unit: record.template.clone(),
            box_name,
            argv: template.command.iter().chain(record.args.iter()).cloned().collect(),
            env,
            cwd: Some(template.cwd.clone().unwrap_or_else(|| self.spec.base_dir.clone())),
            limits: template.limits.clone(),
            log: self.log_target(&format!("jobs/{id}.log")),
        };
        self.launcher.launch(request, self.run_tx.clone());
    }

    pub(super) fn job_run_event(&mut self, id: JobId, event: RunEvent) {
        let run = event.run;
        let unit = self.jobs.get(&id).map(|j| j.record.template.clone()).unwrap_or_default();
        match event.kind {
            RunEventKind::Started { pid } => {
                if let Some(job) = self.jobs.get_mut(&id) {
                    job.pid = Some(pid);
                }
                self.ledger.started(id, Instant::now());
                self.persist(vec![Write::RunPid { run, pid }]);
            }
            RunEventKind::SpawnFailed { cause } => {
                let exit = Exit::without_box(cause, "the program never started");
                self.job_exited(id, run, exit);
            }
            RunEventKind::OomKill { .. } => {
                self.persist(vec![Write::Event { unit, kind: EventKind::OomKill { run } }]);
            }
            RunEventKind::Exited(exit) => self.job_exited(id, run, *exit),
        }
    }

    fn job_exited(&mut self, id: JobId, run: RunId, exit: Exit) {
        self.runs.remove(&run);
        self.launcher.forget(run);
        self.ledger.release(id);
        if let Some(shutdown) = self.shutdown.as_mut() {
            shutdown.count(&exit);
        }
        let Some(mut job) = self.jobs.remove(&id) else { return };
        if let Some(pool) = self.pools.get_mut(&job.record.pool) {
            pool.running = pool.running.saturating_sub(1);
            pool.record_outcome(&exit.cause);
        }
        let record = job.record.clone();
        self.requests.observe(&record.template, &exit.evidence);
        self.stats.exit(&record.template, "job", exit.cause.kind());
        let template = self.spec.jobs.get(&record.template);
        let cause = exit.cause.clone();
        let success = cause.is_success(&[0]);
        let retries_on = template.map(|t| t.retries.on.clone()).unwrap_or_default();
        let retry_base = template.map_or(Duration::from_secs(10), |t| t.retries.backoff);
        let (to, reason, requeue_after) = if success {
            (JobState::Succeeded, None, None)
        } else if job.cancel {
            (JobState::Cancelled, Some("cancelled on request".to_string()), None)
        } else if self.shutdown.is_some() && cause == ExitCause::Stopped {
            (
                JobState::Queued,
                Some("daemon shut down; runs again at next start".into()),
                Some(Duration::ZERO),
            )
        } else if record.attempt < record.max_attempts
            && retries_on.iter().any(|k| k == cause.kind())
        {
            let exp = 2u32.saturating_pow(record.attempt.saturating_sub(1).min(16));
            let wait = retry_base.saturating_mul(exp).min(MAX_RETRY_BACKOFF);
            let reason = format!(
                "attempt {}/{} ended: {cause}; retrying in {}s",
                record.attempt,
                record.max_attempts,
                wait.as_secs()
            );
            (JobState::Queued, Some(reason), Some(wait))
        } else {
            let reason = if record.attempt >= record.max_attempts
                && retries_on.iter().any(|k| k == cause.kind())
            {
                format!("{cause}; no attempts left ({}/{})", record.attempt, record.max_attempts)
            } else {
                format!("{cause}; not retried for `{}`", cause.kind())
            };
            (JobState::Failed, Some(reason), None)
        };
        let mut writes = vec![Write::EndRun {
            run,
            cause: cause.clone(),
            evidence: exit.evidence.clone(),
            ended_at: now_millis(),
        }];
        if !success && !job.cancel && cause != ExitCause::Stopped {
            let limits = template.map(|t| t.limits.clone()).unwrap_or_default();
            writes.push(Write::PostMortem(postmortem::build(postmortem::Input {
                run,
                unit: &record.template,
                exit: &exit,
                limits: &limits,
                restart_count: record.attempt.saturating_sub(1),
                started_at: job.started_at,
                probes: Vec::new(),
                host: exit.host.clone().unwrap_or_else(|| (self.host_snapshot)()),
            })));
        }
        writes.push(Write::JobState {
            job: id,
            from: JobState::Running,
            to,
            attempt: record.attempt,
            reason: reason.clone(),
        });
        self.commits.push(writes, Followup::JobUpdated { job: id });
        if let Some(wait) = requeue_after {
            job.phase = Phase::Queued;
            job.run = None;
            job.pid = None;
            job.deadline = None;
            job.queued_at = Instant::now();
            job.not_before = Some(Instant::now() + wait);
            job.record.state = JobState::Queued;
            job.record.reason = reason;
            self.enqueue(job);
        } else {
            job.phase = Phase::Finishing(to);
            if let Some(pool) = self.pools.get_mut(&job.record.pool) {
                pool.finishing += 1;
            }
            self.jobs.insert(id, job);
        }
    }

    pub(super) fn job_updated(&mut self, id: JobId, result: Result<Vec<Applied>, StoreError>) {
        if let Some(job) = self.jobs.get(&id)
            && matches!(job.phase, Phase::Finishing(_))
        {
            // Only a job whose last committed state is `running` was counted.
            let counted = job.record.state == JobState::Running;
            let pool = job.record.pool.clone();
            self.jobs.remove(&id);
            if let Some(pool) = self.pools.get_mut(&pool).filter(|_| counted) {
                pool.finishing = pool.finishing.saturating_sub(1);
            }
        }
        match result {
            Ok(applied) => {
                if let (Some(record), Some(job)) =
                    (applied.iter().rev().find_map(Applied::job), self.jobs.get_mut(&id))
                {
                    job.record = record.clone();
                }
            }
            Err(e) => tracing::error!(job = %id, error = %e, "could not record a job transition"),
        }
    }

    /// The head of `pool`'s queue waits, for `reason`; counted once per
    /// change of reason.
    fn hold(&mut self, pool: &str, decision: &'static str, reason: String) {
        let Some(p) = self.pools.get_mut(pool) else { return };
        p.blocking = Some(reason);
        if p.holding != Some(decision) {
            p.holding = Some(decision);
            self.stats.admission(pool, decision);
        }
    }

    pub(super) fn job_timers(&mut self, now: Instant) {
        for (at, timer, id) in self.timers.due(now) {
            let Some(job) = self.jobs.get(&id) else { continue };
            match timer {
                // The wake-up was the point: admission runs next.
                JobTimer::Retry => {}
                JobTimer::Timeout if job.phase == Phase::Running && job.deadline == Some(at) => {
                    self.stop_job(id, StopReason::Timeout);
                }
                JobTimer::Expire if job.phase == Phase::Queued => {
                    let timeout =
                        self.pools.get(&job.record.pool).and_then(|p| p.spec.queue_timeout);
                    if let Some(timeout) =
                        timeout.filter(|t| now.duration_since(job.queued_at) >= *t)
                    {
                        self.expire(id, timeout);
                    }
                }
                JobTimer::Timeout | JobTimer::Expire => {}
            }
        }
    }

    fn expire(&mut self, id: JobId, timeout: Duration) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let key = job.key();
        let attempt = job.record.attempt;
        let reason = format!("not started within queue_timeout ({}s)", timeout.as_secs());
        job.phase = Phase::Finishing(JobState::Expired);
        if let Some(pool) = self.pools.get_mut(&job.record.pool) {
            pool.queue.remove(&key);
        }
        let write = Write::JobState {
            job: id,
            from: JobState::Queued,
            to: JobState::Expired,
            attempt,
            reason: Some(reason),
        };
        self.commits.push(vec![write], Followup::JobUpdated { job: id });
    }

    pub(super) fn stop_job(&mut self, id: JobId, reason: StopReason) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        if job.phase != Phase::Running {
            return;
        }
        let Some(run) = job.run else { return };
        job.phase = Phase::Stopping;
        job.deadline = None;
        self.launcher
            .stop(run, StopRequest { signal: libc_sigterm(), grace: JOB_STOP_GRACE, reason });
    }

    pub(super) fn cancel(&mut self, id: JobId, reply: Reply<stockade_proto::JobView>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            let _ = reply.send(Err(EngineError::UnknownJob { id }));
            return;
        };
        job.cancel = true;
        match job.phase {
            Phase::Queued => {
                let key = job.key();
                job.phase = Phase::Finishing(JobState::Cancelled);
                let job = self.jobs.get(&id).expect("present");
                if let Some(pool) = self.pools.get_mut(&job.record.pool) {
                    pool.queue.remove(&key);
                }
                let write = Write::JobState {
                    job: id,
                    from: JobState::Queued,
                    to: JobState::Cancelled,
                    attempt: job.record.attempt,
                    reason: Some("cancelled on request".into()),
                };
                self.commits.push(vec![write], Followup::Cancelled { job: id, reply });
            }
            Phase::Running => {
                self.stop_job(id, StopReason::Asked);
                let _ = reply.send(self.job_view_by_id(id));
            }
            Phase::Launching | Phase::Stopping | Phase::Finishing(_) => {
                let _ = reply.send(self.job_view_by_id(id));
            }
        }
    }

    /// Put back what the store says was queued or running when the daemon
    /// last stopped. Boxes of runs left open are emptied first, so nothing
    /// runs twice past its attempt fence; those runs end as `lost`.
    pub(super) fn recover(&mut self) -> Result<(), EngineError> {
        for name in self.spec.jobs.keys() {
            if let Some(peaks) = self.store.unit_peaks(name)? {
                self.requests.seed(name, peaks.memory_peak, peaks.pids_peak);
            }
        }
        let mut writes = Vec::new();
        for run in self.store.open_runs()? {
            let killed = self.launcher.reclaim(&run.box_name);
            let decided_by = match killed {
                Ok(0) => "the daemon restarted and the box was empty".to_string(),
                Ok(n) => {
                    format!("the daemon restarted; {n} process(es) still in the box were killed")
                }
                Err(e) => format!("the daemon restarted; the box could not be checked: {e}"),
            };
            let evidence = Evidence { decided_by, ..Evidence::default() };
            writes.push(Write::EndRun {
                run: run.id,
                cause: ExitCause::Lost,
                evidence,
                ended_at: now_millis(),
            });
        }
        let mut requeued = Vec::new();
        for record in self.store.unfinished_jobs()? {
            if !self.pools.contains_key(&record.pool)
                || !self.spec.jobs.contains_key(&record.template)
            {
                let reason = format!(
                    "template `{}` or pool `{}` is no longer in the spec",
                    record.template, record.pool
                );
                writes.push(Write::JobState {
                    job: record.id,
                    from: record.state,
                    to: JobState::Failed,
                    attempt: record.attempt,
                    reason: Some(reason),
                });
                continue;
            }
            let mut record = record;
            if record.state == JobState::Running {
                let retry_lost =
                    self.spec.jobs[&record.template].retries.on.iter().any(|k| k == "lost");
                let (to, reason) = if retry_lost && record.attempt < record.max_attempts {
                    (
                        JobState::Queued,
                        format!("lost at attempt {}: the daemon restarted", record.attempt),
                    )
                } else {
                    (
                        JobState::Failed,
                        format!(
                            "lost at attempt {}: the daemon restarted; not retried",
                            record.attempt
                        ),
                    )
                };
                writes.push(Write::JobState {
                    job: record.id,
                    from: JobState::Running,
                    to,
                    attempt: record.attempt,
                    reason: Some(reason.clone()),
                });
                if to != JobState::Queued {
                    continue;
                }
                record.state = JobState::Queued;
                record.reason = Some(reason);
            }
            requeued.push(record);
        }
        for record in requeued {
            self.enqueue(Job::queued(record, None));
        }
        if !writes.is_empty() {
            self.persist(writes);
        }
        Ok(())
    }
}

fn libc_sigterm() -> i32 {
    15
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_the_jobs_ahead_in_priority_then_fifo_order() {
        let mut pool = Pool::new(PoolSpec {
            name: "p".into(),
            max_concurrency: Concurrency::Fixed(1),
            max_queued: 10,
            queue_timeout: None,
        });
        let key = |priority: i32, id: u64| (Reverse(priority), JobId(id));
        for k in [key(0, 1), key(0, 2), key(5, 4), key(0, 3), key(-1, 5)] {
            pool.queue.insert(k);
        }
        assert_eq!(pool.position(&key(5, 4)), 0);
        assert_eq!(pool.position(&key(0, 1)), 1);
        assert_eq!(pool.position(&key(0, 3)), 3);
        assert_eq!(pool.position(&key(-1, 5)), 4);
    }
}
