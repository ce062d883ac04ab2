//! Graceful shutdown: stop services in reverse dependency order, each with
//! its stop signal and grace, stop running jobs (they are requeued), and end
//! the loop once every box is empty and every write is committed.
//!
//! A [`ShutdownPlan`] may instead *leave* running jobs (`[daemon] on_stop =
//! "leave"`) or everything (an upgrade) for the next daemon to adopt: such a
//! run is forgotten — its box untouched, nothing journaled as ended — so the
//! store still holds it open, as after a crash.

use super::Effect;
use super::Engine;
use super::job_life::{JobLife, StopWhy};
use super::services::Desired;
use crate::command::{Reply, ShutdownPlan, ShutdownReport};
use crate::launcher::Exit;
use stockade_proto::{JobId, JobState};

pub(super) struct Shutdown {
    plan: ShutdownPlan,
    replies: Vec<Reply<ShutdownReport>>,
    report: ShutdownReport,
    /// Jobs running when the shutdown began (to say which run again).
    was_running: Vec<JobId>,
}

impl Shutdown {
    /// Count how a run ended during the shutdown.
    pub fn count(&mut self, exit: &Exit) {
        if exit.killed {
            self.report.killed += 1;
        } else {
            self.report.clean += 1;
        }
    }
}

impl Engine {
    pub(super) fn begin_shutdown(&mut self, plan: ShutdownPlan, reply: Reply<ShutdownReport>) {
        let was_running: Vec<JobId> = self.jobs.in_state(JobState::Running).collect();
        let shutdown = self.shutdown.get_or_insert_with(|| Shutdown {
            plan,
            replies: Vec::new(),
            report: ShutdownReport::default(),
            was_running,
        });
        shutdown.replies.push(reply);
        // A full disk must not hold SIGTERM up: from now on a failing write
        // gets its try and is left to the next start's recovery.
        self.unrecorded.stop_retrying();
        for service in &mut self.services {
            service.desired = Desired::Down;
        }
        self.drive_shutdown();
    }

    /// Stop whatever may be stopped now: a service only once every service
    /// that depends on it has no live replica left.
    pub(super) fn drive_shutdown(&mut self) {
        // Launching, running and stopping jobs all show `running`; the
        // lifecycle decides what a shutdown means for each.
        let plan = self.shutdown.as_ref().map(|s| s.plan).unwrap_or_default();
        let live: Vec<JobId> = self.jobs.in_state(JobState::Running).collect();
        if plan.leave_jobs {
            for id in live {
                self.leave_job(id);
            }
        }
        if plan.leave_services {
            self.leave_replicas();
            return;
        }
        let live: Vec<JobId> = if plan.leave_jobs {
            Vec::new()
        } else {
            self.jobs.in_state(JobState::Running).collect()
        };
        for id in live {
            let stoppable =
                self.jobs.get(&id).is_some_and(|j| !matches!(j.life, JobLife::Done { .. }));
            if stoppable && let Err(e) = self.stop_job(id, StopWhy::Shutdown) {
                tracing::warn!(job = %id, "not stopped for the shutdown: {e}");
            }
        }
        for s in (0..self.services.len()).rev() {
            if !self.dependents_alive(&self.services[s].spec.name) {
                self.stop_every_replica(s);
            }
        }
    }

    /// Forget a running job's run without stopping it or journaling its end:
    /// the next daemon finds it open in the store and adopts (or reclaims) it.
    /// A launching job is left once it has started; a stopping one is let stop.
    fn leave_job(&mut self, id: JobId) {
        let Some(JobLife::Running { run, .. }) = self.jobs.get(&id).map(|j| &j.life) else {
            return;
        };
        let run = *run;
        if self.runs.remove(&run).is_none() {
            return;
        }
        self.effects.push(Effect::Forget(run));
        if let Some(shutdown) = self.shutdown.as_mut() {
            shutdown.report.left.push(id);
        }
        tracing::info!(job = %id, %run, "left running for the next daemon to adopt");
    }

    /// Forget every live replica's run (an upgrade): boxes untouched.
    fn leave_replicas(&mut self) {
        for s in 0..self.services.len() {
            for r in 0..self.services[s].replicas.len() {
                let Some(run) = self.services[s].replicas[r].state.run() else { continue };
                if self.runs.remove(&run).is_none() {
                    continue;
                }
                self.effects.push(Effect::StopProbes(run));
                self.effects.push(Effect::Forget(run));
                if let Some(shutdown) = self.shutdown.as_mut() {
                    shutdown.report.left_replicas += 1;
                }
            }
        }
    }

    /// True once a shutdown was asked for and nothing is left: the replies
    /// have been sent and the loop may end.
    pub(super) fn shutdown_finished(&mut self) -> bool {
        if self.shutdown.is_none() {
            return false;
        }
        let launching = self.services.iter().any(|s| s.replicas.iter().any(|r| r.launching))
            || self.jobs.in_state(JobState::Running).any(|id| {
                self.jobs.get(&id).is_some_and(|j| matches!(j.life, JobLife::Launching { .. }))
            });
        let idle = self.runs.is_empty() && self.pending_commits == 0 && !launching;
        if !idle {
            return false;
        }
        let Some(mut shutdown) = self.shutdown.take() else { return false };
        let queued: std::collections::HashSet<JobId> =
            self.jobs.in_state(JobState::Queued).collect();
        shutdown.report.queued = queued.len() as u64;
        shutdown.report.requeued =
            shutdown.was_running.iter().filter(|id| queued.contains(id)).copied().collect();
        for reply in shutdown.replies {
            let _ = reply.send(Ok(shutdown.report.clone()));
        }
        true
    }
}
