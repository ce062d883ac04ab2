//! What is done to a live job from outside its run: timers (retry, run
//! timeout, queue timeout), stop and cancel. Every move goes through
//! [`super::job_life::JobLife::transition`]; a move it refuses reaches the
//! caller as an error.

use super::Engine;
use super::commit::Followup;
use super::job_life::{IllegalJobMove, JobInput, JobLife, Step, StopWhy};
use super::timers::JobTimer;
use crate::EngineError;
use crate::command::Reply;
use crate::launcher::StopRequest;
use std::time::Duration;
use stockade_proto::{JobId, JobState, JobView};
use tokio::time::Instant;

/// Jobs are stopped with SIGTERM and this much grace before the box is killed.
pub(super) const JOB_STOP_GRACE: Duration = Duration::from_secs(10);

impl Engine {
    pub(super) fn job_timers(&mut self, now: Instant) {
        for (at, timer, id) in self.timers.due(now) {
            let Some(job) = self.jobs.get(&id) else { continue };
            // Timers are never disarmed: one that no longer applies is dropped here.
            match (timer, &job.life) {
                // The wake-up was the point: admission runs next.
                (JobTimer::Retry, _) => {}
                (JobTimer::Timeout, JobLife::Running { deadline, .. }) if *deadline == Some(at) => {
                    let _ = self.stop_job(id, StopWhy::Timeout);
                }
                (JobTimer::Expire, JobLife::Queued { enqueued_at, .. }) => {
                    let timeout =
                        self.pools.get(&job.record.pool).and_then(|p| p.spec.queue_timeout);
                    if let Some(timeout) =
                        timeout.filter(|t| now.duration_since(*enqueued_at) >= *t)
                    {
                        self.expire(id, timeout);
                    }
                }
                (JobTimer::Timeout | JobTimer::Expire, _) => {}
            }
        }
    }

    fn expire(&mut self, id: JobId, timeout: Duration) {
        let Some(Ok(Step::Journal { from, to })) = self.move_job(id, JobInput::Expire) else {
            return;
        };
        let Some(job) = self.jobs.get(&id) else { return };
        let key = job.key();
        let reason = format!("not started within queue_timeout ({}s)", timeout.as_secs());
        let write = job.journal(from, to, Some(reason));
        if let Some(pool) = self.pools.get_mut(&job.record.pool) {
            pool.queue.remove(&key);
        }
        self.commit(vec![write], Followup::JobUpdated { job: id });
    }

    /// Stop a live job's run for `why`; what that means in each state is
    /// [`JobLife::transition`]'s table.
    pub(super) fn stop_job(&mut self, id: JobId, why: StopWhy) -> Result<Step, EngineError> {
        let step = match self.move_job(id, JobInput::Stop(why)) {
            None => return Err(EngineError::UnknownJob { id }),
            Some(Err(e)) => return Err(self.refused(id, e)),
            Some(Ok(step)) => step,
        };
        if let Step::Stop { run, reason } = step {
            let request = StopRequest { signal: libc::SIGTERM, grace: JOB_STOP_GRACE, reason };
            self.effects.push(super::Effect::Stop { run, request });
        }
        Ok(step)
    }

    /// The error a refused move of job `id` reaches its caller as.
    fn refused(&self, id: JobId, e: IllegalJobMove) -> EngineError {
        match self.jobs.get(&id).map(|j| &j.life) {
            Some(JobLife::Done { to, .. }) => EngineError::AlreadyFinished { id, state: *to },
            _ => EngineError::IllegalMove { what: format!("job {id}"), message: e.to_string() },
        }
    }

    pub(super) fn cancel(&mut self, id: JobId, reply: Reply<JobView>) {
        match self.stop_job(id, StopWhy::Cancel) {
            Err(e) => {
                let _ = reply.send(Err(e));
            }
            Ok(Step::Journal { from, to }) => {
                // Cancelled while queued: answered once that is committed.
                let Some(job) = self.jobs.get(&id) else { return };
                let key = job.key();
                let write = job.journal(from, to, Some("cancelled on request".into()));
                if let Some(pool) = self.pools.get_mut(&job.record.pool) {
                    pool.queue.remove(&key);
                }
                debug_assert_eq!(to, JobState::Cancelled);
                self.commit(vec![write], Followup::Cancelled { job: id, reply });
            }
            // Running, launching or stopping: it reports `running` until its box is empty.
            Ok(_) => {
                let _ = reply.send(self.job_view_by_id(id));
            }
        }
    }
}
