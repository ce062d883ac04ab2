//! A job's run, from admission to its end: journal `running` and the run,
//! launch it once committed, follow its events, and decide how its end
//! leaves the job. Every move goes through [`JobLife::transition`].

use super::commit::Followup;
use super::job_life::{JobInput, JobLife, Step};
use super::retry::{Ended, decide};
use super::timers::JobTimer;
use super::{Engine, Owner};
use crate::launcher::{Exit, LaunchRequest, RunEvent, RunEventKind};
use crate::postmortem;
use std::time::Duration;
use stockade_proto::{EventKind, ExitCause, JobId, JobState, Outcome, RunId, UnitKind, now_millis};
use stockade_store::{Applied, JobRecord, NewRun, StoreError, Write};
use tokio::time::Instant;

/// How long a job whose start could not be journaled waits before it is tried again.
const JOURNAL_RETRY: Duration = Duration::from_secs(1);

impl Engine {
    /// Move job `id`; the index follows. `None`: no such live job.
    pub(super) fn move_job(
        &mut self,
        id: JobId,
        input: JobInput,
    ) -> Option<Result<Step, super::job_life::IllegalJobMove>> {
        self.jobs.update(id, |job| job.life.transition(input))
    }

    /// Admission picked `id` (already out of its queue): journal its start.
    pub(super) fn start_job(&mut self, id: JobId) {
        let Some(job) = self.jobs.get(&id) else { return };
        let record = job.record.clone();
        let Some(limits) = self.template(&record.template).map(|t| t.limits.clone()) else {
            tracing::error!(job = %id, template = %record.template, "template vanished");
            return;
        };
        let box_name = self.box_name(&record.template, &format!("j{id}"));
        match self.move_job(id, JobInput::Admit { box_name: box_name.clone() }) {
            Some(Ok(Step::JournalStart)) => {}
            other => {
                tracing::error!(job = %id, "admission of a job that is not queued: {other:?}");
                return;
            }
        }
        let Some(job) = self.jobs.get(&id) else { return };
        let writes = vec![
            job.journal(JobState::Queued, JobState::Running, None),
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
        self.commit(writes, Followup::LaunchJob { job: id, box_name });
    }

    pub(super) fn launch_job_committed(
        &mut self,
        id: JobId,
        box_name: String,
        result: Result<Vec<Applied>, StoreError>,
    ) {
        let (record, run) = match &result {
            Ok(applied) => (
                applied.iter().find_map(Applied::job).cloned(),
                applied.iter().find_map(Applied::run),
            ),
            Err(_) => (None, None),
        };
        let now = Instant::now();
        let (Some(record), Some(run)) = (record, run) else {
            tracing::error!(job = %id, "could not start job: {:?}", result.err());
            self.ledger.release(id);
            let input = JobInput::JournalFailed { now, retry_at: now + JOURNAL_RETRY };
            if let Some(Ok(Step::Requeue)) = self.move_job(id, input)
                && let Some(job) = self.jobs.remove(&id)
            {
                if let Some(pool) = self.pools.get_mut(&job.record.pool) {
                    pool.running = pool.running.saturating_sub(1);
                }
                self.enqueue(job);
            }
            return;
        };
        let deadline = self.template(&record.template).and_then(|t| t.timeout).map(|t| now + t);
        let started_at = record.started_at;
        self.jobs.update(id, |job| job.record = record.clone());
        self.runs.insert(run, Owner::Job(id));
        match self.move_job(id, JobInput::Journaled { run, started_at, deadline }) {
            Some(Ok(Step::Launch { run })) => {
                if let Some(at) = deadline {
                    self.timers.arm(at, JobTimer::Timeout, id);
                }
                if let Some(request) = self.job_launch_request(&record, run, box_name) {
                    self.effects.push(super::Effect::Launch(Box::new(request)));
                }
            }
            // Journaled as running but a stop came first: end it, never launched.
            Some(Ok(Step::EndUnlaunched { run })) => {
                let exit = Exit::without_box(ExitCause::Stopped, "stopped before it was launched");
                self.job_exited(id, run, exit);
            }
            other => {
                tracing::error!(job = %id, %run, "a journaled run with no launching job: {other:?}")
            }
        }
    }

    /// The one place a job's [`LaunchRequest`] is built.
    fn job_launch_request(
        &self,
        record: &JobRecord,
        run: RunId,
        box_name: String,
    ) -> Option<LaunchRequest> {
        let template = self.template(&record.template)?;
        // The submission's env was held to the template's `submit_env` at
        // the door; the daemon's environment reaches only an unwalled unit
        // or a walled one's `inherit_env`.
        let env =
            template.box_environment(record.id.0, record.attempt, &record.env, std::env::vars());
        Some(LaunchRequest {
            run,
            unit: record.template.clone(),
            box_name,
            argv: template.command.iter().chain(record.args.iter()).cloned().collect(),
            env,
            cwd: self.launch_cwd(&template.isolation, template.cwd.as_ref()),
            limits: template.limits.clone(),
            isolation: template.isolation.clone(),
            log: self.log_target(&format!("jobs/{}.log", record.id)),
        })
    }

    pub(super) fn job_run_event(&mut self, id: JobId, event: RunEvent) {
        let run = event.run;
        match event.kind {
            RunEventKind::Started { pid } => {
                if let Some(Err(e)) = self.move_job(id, JobInput::Started { pid }) {
                    tracing::warn!(job = %id, %run, "{e}");
                }
                self.ledger.started(id, Instant::now());
                self.persist(vec![Write::RunPid { run, pid }]);
            }
            RunEventKind::SpawnFailed { cause } => {
                let exit = Exit::without_box(cause, "the program never started");
                self.job_exited(id, run, exit);
            }
            RunEventKind::OomKill { .. } => {
                let unit =
                    self.jobs.get(&id).map(|j| j.record.template.clone()).unwrap_or_default();
                self.persist(vec![Write::Event { unit, kind: EventKind::OomKill { run } }]);
            }
            RunEventKind::Exited(exit) => self.job_exited(id, run, *exit),
        }
    }

    fn job_exited(&mut self, id: JobId, run: RunId, exit: Exit) {
        self.runs.remove(&run);
        self.effects.push(super::Effect::Forget(run));
        self.ledger.release(id);
        if let Some(shutdown) = self.shutdown.as_mut() {
            shutdown.count(&exit);
        }
        let Some(mut job) = self.jobs.remove(&id) else { return };
        let record = job.record.clone();
        let cause = exit.cause.clone();
        let outcome = Outcome::of(&cause, &[0]);
        if let Some(pool) = self.pools.get_mut(&record.pool) {
            pool.running = pool.running.saturating_sub(1);
            pool.record_outcome(outcome);
        }
        self.requests.observe(&record.template, &exit.evidence);
        self.stats.exit(&record.template, "job", cause.kind());
        let template = self.spec.jobs.get(&record.template);
        let decision = decide(&Ended {
            cause: &cause,
            attempt: record.attempt,
            max_attempts: record.max_attempts,
            retries: template.map(|t| &t.retries),
            stopping: job.life.stopping(),
            on_interrupt: template.map(|t| t.on_interrupt).unwrap_or_default(),
            now: Instant::now(),
        });
        let mut writes = vec![Write::EndRun {
            run,
            cause: cause.clone(),
            evidence: exit.evidence.clone(),
            ended_at: now_millis(),
        }];
        if outcome.is_abnormal() {
            let limits = template.map(|t| t.limits.clone()).unwrap_or_default();
            writes.push(Write::PostMortem(postmortem::build(postmortem::Input {
                run,
                unit: &record.template,
                exit: &exit,
                limits: &limits,
                restart_count: record.attempt.saturating_sub(1),
                started_at: job.life.started_at(),
                probes: Vec::new(),
                host: exit.host.clone().unwrap_or_else(|| (self.host_snapshot)()),
            })));
        }
        // A run requeued by the daemon's shutdown or by `on_interrupt` gives
        // its attempt back (no `ATTEMPT 2/1` when it runs again).
        let refund = decision.refund;
        match job.life.transition(JobInput::Ended(decision.end)) {
            Ok(Step::Journal { from: JobState::Running, to: JobState::Queued }) if refund => {
                writes.push(Write::Requeue {
                    job: id,
                    attempt: record.attempt,
                    reason: decision.reason.clone(),
                });
                job.record.attempt = record.attempt.saturating_sub(1);
            }
            Ok(Step::Journal { from, to }) => {
                writes.push(job.journal(from, to, decision.reason.clone()))
            }
            other => {
                tracing::error!(job = %id, %run, "a run ended for a job not running: {other:?}")
            }
        }
        self.commit(writes, Followup::JobUpdated { job: id });
        if matches!(job.life, JobLife::Queued { .. }) {
            job.record.state = JobState::Queued;
            job.record.reason = decision.reason;
            self.enqueue(job);
        } else {
            if let Some(pool) = self.pools.get_mut(&record.pool) {
                pool.finishing += 1;
            }
            self.jobs.insert(job);
        }
    }

    /// A job's state change committed: a finished job leaves the engine.
    pub(super) fn job_updated(&mut self, id: JobId, result: Result<Vec<Applied>, StoreError>) {
        if let Some(job) = self.jobs.get(&id)
            && matches!(job.life, JobLife::Done { .. })
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
                if let Some(record) = applied.iter().rev().find_map(Applied::job) {
                    self.jobs.update(id, |job| job.record = record.clone());
                }
            }
            Err(e) => tracing::error!(job = %id, error = %e, "could not record a job transition"),
        }
    }
}
