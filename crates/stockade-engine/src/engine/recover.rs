//! Recovery at start: take back what the store says was running when the
//! daemon last stopped, put back what was queued, and learn each template's
//! request from its past runs.
//!
//! Every open run whose unit is still in the spec is handed to the launcher
//! to **adopt** ([`Launcher::adopt`]): a box whose agent still runs is
//! watched again as if this daemon had started it — a service replica keeps
//! its run, pid and restart count (its probes resume), a job keeps its run,
//! start time, timeout deadline and attempt. A box whose agent ended during
//! the outage is adopted too: its exit record gives the exact status and
//! its end is recorded like any death. What cannot be known (the host
//! rebooted, the box vanished, the init was killed with no record) ends
//! `interrupted` with a post-mortem; a job then runs again or fails per its
//! template's `on_interrupt`, and a replica starts afresh. Open runs of
//! units that left the spec are emptied and end `lost`, as before.
//!
//! Around adoption, `service_overrides.rs` puts back what `stockade scale`
//! (before: the replicas past the spec's count are adopted too) and
//! `stockade stop` (after: what it left down stays down) left behind.

use super::job::Job;
use super::job_life::JobLife;
use super::timers::JobTimer;
use super::{Engine, Owner};
use crate::EngineError;
use crate::launcher::{AdoptRequest, Exit, Launcher, RunEvent};
use crate::postmortem;
use crate::replica::{Readiness, ReplicaEvent};
use std::collections::HashMap;
use std::time::Duration;
use stockade_proto::{ExitCause, JobId, JobState, RunId, UnitKind, now_millis};
use stockade_spec::OnInterrupt;
use stockade_store::{JobRecord, RunRecord, Store, Write};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What became of a running job's open run.
enum Found {
    /// Adopted: it goes on as `Running`.
    Adopted { run: RunId, pid: u32, started_at: u64 },
    /// Ended `interrupted`, for this reason.
    Interrupted(String),
}

impl Engine {
    pub(super) fn recover(
        &mut self,
        store: &Store,
        launcher: &mut dyn Launcher,
        events: &mpsc::UnboundedSender<RunEvent>,
    ) -> Result<(), EngineError> {
        for name in self.spec.jobs.keys() {
            if let Some(peaks) = store.unit_peaks(name)? {
                self.requests.seed(name, peaks.memory_peak, peaks.pids_peak);
            }
        }
        self.restore_scales(&store.scaled_services()?);
        let mut writes = Vec::new();
        let mut jobs: HashMap<JobId, Found> = HashMap::new();
        for run in store.open_runs()? {
            let Some(request) = self.adopt_request(&run) else {
                let why = lost_why(launcher.reclaim(&run.box_name));
                writes.extend(self.unknown_end(&run, ExitCause::Lost, &why));
                continue;
            };
            match launcher.adopt(request, events.clone()) {
                Ok(pid) => {
                    tracing::info!(run = %run.id, unit = %run.unit, pid, "adopted a box");
                    if run.pid.is_none() && pid != 0 {
                        writes.push(Write::RunPid { run: run.id, pid });
                    }
                    match (run.kind, run.job) {
                        (UnitKind::Job, Some(job)) => {
                            let started_at = run.started_at;
                            jobs.insert(job, Found::Adopted { run: run.id, pid, started_at });
                        }
                        _ => self.adopt_replica(&run, pid),
                    }
                }
                Err(why) => {
                    tracing::warn!(run = %run.id, unit = %run.unit, %why, "run interrupted");
                    if let Err(e) = launcher.reclaim(&run.box_name) {
                        tracing::warn!(box_name = %run.box_name, %e, "could not empty the box");
                    }
                    writes.extend(self.unknown_end(&run, ExitCause::Interrupted, &why));
                    match (run.kind, run.job) {
                        (UnitKind::Job, Some(job)) => {
                            jobs.insert(job, Found::Interrupted(why));
                        }
                        _ => self.replica_interrupted(&run),
                    }
                }
            }
        }
        self.restore_holds(&store.held_services()?, &store.held_replicas()?);
        let now = Instant::now();
        let mut scheduled = Vec::new();
        for record in store.unfinished_jobs()? {
            if record.source == stockade_proto::JobSource::Schedule {
                scheduled.push((record.template.clone(), record.id));
            }
            let found = jobs.remove(&record.id);
            if let Some(record) = self.recover_job(record, found, &mut writes) {
                self.enqueue(Job::queued(record, now, None));
            }
        }
        scheduled.retain(|(_, id)| self.jobs.get(id).is_some());
        self.resume_schedules(&store.schedule_slots()?, &scheduled);
        if !writes.is_empty() {
            self.persist(writes);
        }
        Ok(())
    }

    /// What the launcher needs to adopt `run`; `None` when its unit (or the
    /// replica) is no longer in the spec.
    fn adopt_request(&self, run: &RunRecord) -> Option<AdoptRequest> {
        let (isolation, file) = match run.kind {
            UnitKind::Job => {
                let template = self.spec.jobs.get(&run.unit)?;
                (template.isolation.clone(), format!("jobs/{}.log", run.job?))
            }
            UnitKind::Service => {
                let s = self.services.iter().position(|s| s.spec.name == run.unit)?;
                let spec = self.services[s].spec.for_replica(run.replica);
                if run.replica as usize >= self.services[s].replicas.len() {
                    return None;
                }
                (spec.isolation.clone(), format!("{}.{}.log", run.unit, run.replica))
            }
        };
        Some(AdoptRequest {
            run: run.id,
            box_name: run.box_name.clone(),
            pid: run.pid,
            started_at: run.started_at,
            limits: run.limits.clone(),
            isolation,
            log: self.log_target(&file),
        })
    }

    /// A replica's run was adopted: it is running again with its pid and
    /// restart count, and its probes resume.
    fn adopt_replica(&mut self, run: &RunRecord, pid: u32) {
        let Some(s) = self.services.iter().position(|s| s.spec.name == run.unit) else { return };
        let r = run.replica;
        let readiness =
            if self.services[s].has_readiness() { Readiness::Probed } else { Readiness::None };
        self.move_replica(s, r, ReplicaEvent::Launch { run: run.id });
        self.move_replica(s, r, ReplicaEvent::Started { pid, readiness });
        let running_for = Duration::from_millis(now_millis().saturating_sub(run.started_at));
        let replica = &mut self.services[s].replicas[r as usize];
        replica.restarts = run.attempt.saturating_sub(1);
        let since = Instant::now().checked_sub(running_for).unwrap_or_else(Instant::now);
        replica.run_started = Some((since, run.started_at));
        self.runs.insert(run.id, Owner::Replica { service: s, replica: r });
        self.start_probes(s, r, run.id);
    }

    /// A replica's run was interrupted: the next start counts as a restart.
    fn replica_interrupted(&mut self, run: &RunRecord) {
        if let Some(service) = self.services.iter_mut().find(|s| s.spec.name == run.unit)
            && let Some(replica) = service.replicas.get_mut(run.replica as usize)
        {
            replica.restarts = run.attempt;
        }
    }

    /// The writes that end `run` as `lost` or `interrupted`, with its post-mortem.
    fn unknown_end(&self, run: &RunRecord, cause: ExitCause, why: &str) -> Vec<Write> {
        let exit = Exit::without_box(cause.clone(), why);
        let pm = postmortem::build(postmortem::Input {
            run: run.id,
            unit: &run.unit,
            exit: &exit,
            limits: &run.limits,
            restart_count: run.attempt.saturating_sub(1),
            started_at: Some(run.started_at),
            probes: Vec::new(),
            host: (self.host_snapshot)(),
        });
        vec![
            Write::EndRun { run: run.id, cause, evidence: exit.evidence, ended_at: now_millis() },
            Write::PostMortem(pm),
        ]
    }

    /// The record to queue again, if the job goes on; an adopted job goes
    /// back to running; otherwise the write that ends it is added to `writes`.
    fn recover_job(
        &mut self,
        mut record: JobRecord,
        found: Option<Found>,
        writes: &mut Vec<Write>,
    ) -> Option<JobRecord> {
        let Some(template) =
            self.spec.jobs.get(&record.template).filter(|_| self.pools.contains_key(&record.pool))
        else {
            let reason = format!(
                "template `{}` or pool `{}` is no longer in the spec",
                record.template, record.pool
            );
            writes.push(state_write(&record, JobState::Failed, reason));
            return None;
        };
        if record.state != JobState::Running {
            return Some(record);
        }
        let attempt = record.attempt;
        match found {
            Some(Found::Adopted { run, pid, started_at }) => {
                let timeout = template.timeout;
                self.adopt_job(record, run, pid, started_at, timeout);
                None
            }
            Some(Found::Interrupted(why)) => match template.on_interrupt {
                OnInterrupt::Requeue => {
                    let reason = format!(
                        "interrupted at attempt {attempt} ({why}); queued again (on_interrupt = \"requeue\")"
                    );
                    writes.push(Write::Requeue {
                        job: record.id,
                        attempt,
                        reason: Some(reason.clone()),
                    });
                    // The interrupted attempt is given back: the next start is it again.
                    record.attempt = attempt.saturating_sub(1);
                    record.state = JobState::Queued;
                    record.reason = Some(reason);
                    Some(record)
                }
                OnInterrupt::Fail => {
                    let reason = format!(
                        "interrupted at attempt {attempt} ({why}); not run again (on_interrupt = \"fail\")"
                    );
                    writes.push(state_write(&record, JobState::Failed, reason));
                    None
                }
            },
            // Running with no open run: its run was ended `lost` above (its
            // unit left the spec) or never journalled.
            None => {
                let retry_lost = template.retries.on.iter().any(|k| k == "lost");
                if retry_lost && attempt < record.max_attempts {
                    let reason = format!("lost at attempt {attempt}: the daemon restarted");
                    writes.push(state_write(&record, JobState::Queued, reason.clone()));
                    record.state = JobState::Queued;
                    record.reason = Some(reason);
                    Some(record)
                } else {
                    let reason =
                        format!("lost at attempt {attempt}: the daemon restarted; not retried");
                    writes.push(state_write(&record, JobState::Failed, reason));
                    None
                }
            }
        }
    }

    /// An adopted job: running again with its run, pid, start time and the
    /// rest of its timeout.
    fn adopt_job(
        &mut self,
        record: JobRecord,
        run: RunId,
        pid: u32,
        started_at: u64,
        timeout: Option<Duration>,
    ) {
        let id = record.id;
        let now = Instant::now();
        let ran = Duration::from_millis(now_millis().saturating_sub(started_at));
        let deadline = timeout.map(|t| now + t.saturating_sub(ran));
        if let Some(pool) = self.pools.get_mut(&record.pool) {
            pool.running += 1;
        }
        let life = JobLife::Running { run, pid: Some(pid), started_at: Some(started_at), deadline };
        self.jobs.insert(Job { record, life });
        self.runs.insert(run, Owner::Job(id));
        if let Some(at) = deadline {
            self.timers.arm(at, JobTimer::Timeout, id);
        }
    }
}

/// Why an open run whose unit left the spec ended `lost`: its box was emptied.
fn lost_why(reclaimed: Result<u32, String>) -> String {
    match reclaimed {
        Ok(0) => "the daemon restarted, the unit left the spec, and the box was empty".to_string(),
        Ok(n) => format!(
            "the daemon restarted and the unit left the spec; {n} process(es) still in the box were killed"
        ),
        Err(e) => format!("the daemon restarted; the box could not be checked: {e}"),
    }
}

/// A recovered job's move from its stored state (it has no life yet).
fn state_write(record: &JobRecord, to: JobState, reason: String) -> Write {
    Write::JobState {
        job: record.id,
        from: record.state,
        to,
        attempt: record.attempt,
        reason: Some(reason),
    }
}
