//! Submission: check templates and `max_queued`, journal the jobs, and queue
//! them once committed ("queued" means durable).

use super::Engine;
use super::commit::Followup;
use super::job::Job;
use super::timers::JobTimer;
use crate::EngineError;
use crate::command::Reply;
use std::collections::BTreeMap;
use stockade_proto::{JobRequest, JobState, QueuePosition, Submitted, now_millis};
use stockade_spec::JobSpec;
use stockade_store::{Applied, NewJob, StoreError, Write};
use tokio::time::Instant;

impl Engine {
    pub(super) fn template(&self, name: &str) -> Option<&JobSpec> {
        self.spec.jobs.get(name)
    }

    pub(super) fn submit(&mut self, requests: Vec<JobRequest>, reply: Reply<Vec<Submitted>>) {
        if self.shutdown.is_some() {
            let _ = reply.send(Err(EngineError::ShuttingDown));
            return;
        }
        if self.draining {
            let _ = reply.send(Err(EngineError::Draining));
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
                idempotency_key: request.idempotency_key,
                source: stockade_proto::JobSource::Api,
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
        self.commit(writes, Followup::Submitted { reply, pools });
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
        let now = Instant::now();
        let mut answers = Vec::with_capacity(applied.len());
        for record in applied.iter().filter_map(Applied::job) {
            if !self.pools.contains_key(&record.pool) {
                continue;
            }
            let job = Job::queued(record.clone(), now, None);
            let key = job.key();
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

    /// Put a queued job in its pool's queue and the engine's indexes, and arm
    /// its timers (queue timeout, retry).
    pub(super) fn enqueue(&mut self, job: Job) {
        let id = job.record.id;
        let super::job_life::JobLife::Queued { enqueued_at, retry_at } = job.life else {
            tracing::error!(job = %id, state = %job.life, "only a queued job can be enqueued");
            return;
        };
        if let Some(pool) = self.pools.get_mut(&job.record.pool) {
            pool.queue.insert(job.key());
            if let Some(timeout) = pool.spec.queue_timeout {
                self.timers.arm(enqueued_at + timeout, JobTimer::Expire, id);
            }
        }
        if let Some(at) = retry_at {
            self.timers.arm(at, JobTimer::Retry, id);
        }
        self.jobs.insert(job);
    }
}
