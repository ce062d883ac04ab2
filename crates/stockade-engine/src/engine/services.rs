//! Services: starting replicas in dependency order, restarts with backoff and
//! a start limit, readiness and liveness probes, and start/stop/restart.

use super::service_deps::Deps;
use super::{Engine, Owner};
use crate::backoff::{self, StartWindow};
use crate::launcher::{Exit, LaunchRequest, RunEvent, RunEventKind, StopReason, StopRequest};
use crate::postmortem;
use crate::replica::{AfterExit, Readiness, ReplicaEvent, ReplicaState};
use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;
use stockade_proto::{
    EventKind, Evidence, ExitCause, Outcome, ProbeRecord, RunId, UnitKind, UnixMillis, now_millis,
};
use stockade_spec::{RestartPolicy, ServiceSpec};
use stockade_store::{NewRun, StoreError, Write};
use tokio::time::Instant;

/// A run that stayed up this long resets the backoff: the next crash starts
/// again from `backoff.initial`.
pub(super) const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How many probe results a replica keeps for its post-mortem.
pub(super) const PROBE_HISTORY: usize = 20;
/// After a store failure, try to launch again this much later.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Whether a service should be up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Desired {
    Up,
    Down,
}

pub(super) struct Service {
    pub spec: ServiceSpec,
    pub desired: Desired,
    pub replicas: Vec<Replica>,
    /// A reload's change waiting for every replica to stop (`reload.rs`).
    pub pending: Option<Pending>,
    /// The replica count `stockade scale` set over the spec's `replicas`
    /// (`service_overrides.rs`).
    pub scaled: Option<u32>,
    /// Replicas a `stockade stop NAME[N]` left down, kept down by the next
    /// daemon too.
    pub held: BTreeSet<u32>,
}

/// What a reload does to a service once none of its replicas is live.
pub(super) enum Pending {
    /// Start fresh replicas of this spec (a `restart`), wanted as before.
    Replace { spec: Box<ServiceSpec>, desired: Desired },
    /// Leave the engine (removed from the spec; stops after its dependents).
    Remove,
}

pub(super) struct Replica {
    pub index: u32,
    pub state: ReplicaState,
    /// A `StartRun` commit is in flight.
    pub launching: bool,
    pub restarts: u32,
    /// Consecutive failed runs, for the backoff exponent.
    pub failures: u32,
    pub window: StartWindow,
    pub run_started: Option<(Instant, UnixMillis)>,
    pub ready_ok: u32,
    pub ready_fail: u32,
    pub live_fail: u32,
    pub history: VecDeque<ProbeRecord>,
    pub reason: Option<String>,
    /// `stockade restart` asked for a stop followed by a start.
    pub restart_after_stop: bool,
    /// Retry a launch the store refused, at this time.
    retry_at: Option<Instant>,
}

impl Service {
    pub fn new(spec: ServiceSpec) -> Service {
        let replicas = (0..spec.replicas.max(1)).map(Replica::new).collect();
        Service {
            spec,
            desired: Desired::Up,
            replicas,
            pending: None,
            scaled: None,
            held: BTreeSet::new(),
        }
    }

    /// How many replicas it runs: a scale's count, else the spec's.
    pub fn count(&self) -> u32 {
        self.scaled.unwrap_or(self.spec.replicas).max(1)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        if self.desired == Desired::Down {
            return None;
        }
        self.replicas
            .iter()
            .filter_map(|r| match (&r.state, r.retry_at) {
                (_, Some(at)) => Some(at),
                (ReplicaState::Backoff { until, .. }, None) => Some(*until),
                _ => None,
            })
            .min()
    }

    pub fn has_readiness(&self) -> bool {
        self.spec.readiness.is_some()
    }
}

impl Replica {
    pub(super) fn new(index: u32) -> Replica {
        Replica {
            index,
            state: ReplicaState::Pending,
            launching: false,
            restarts: 0,
            failures: 0,
            window: StartWindow::default(),
            run_started: None,
            ready_ok: 0,
            ready_fail: 0,
            live_fail: 0,
            history: VecDeque::new(),
            reason: None,
            restart_after_stop: false,
            retry_at: None,
        }
    }

    fn reset_probe_counts(&mut self) {
        self.ready_ok = 0;
        self.ready_fail = 0;
        self.live_fail = 0;
    }
}

impl Engine {
    /// Move replica `(s, r)` by a decision of the engine's own; a refused
    /// move is an engine bug, logged loudly (the daemon stays up).
    pub(super) fn move_replica(&mut self, s: usize, r: u32, event: ReplicaEvent) {
        if let Err(e) = self.try_move_replica(s, r, event) {
            tracing::error!(service = %self.services[s].spec.name, replica = r, "{e}");
        }
    }

    /// Move replica `(s, r)` by `event`, recording the new state as an
    /// event; a move the table refuses changes nothing and is returned.
    pub(super) fn try_move_replica(
        &mut self,
        s: usize,
        r: u32,
        event: ReplicaEvent,
    ) -> Result<(), crate::IllegalTransition> {
        let service = &mut self.services[s];
        let replica = &mut service.replicas[r as usize];
        let before = replica.state.public();
        replica.state = replica.state.transition(event)?;
        replica.reason = reason_of(&replica.state);
        let after = replica.state.public();
        if before != after || matches!(replica.state, ReplicaState::Blocked { .. }) {
            let kind = EventKind::ServiceState {
                replica: r,
                state: after,
                reason: replica.reason.clone(),
            };
            let unit = service.spec.name.clone();
            self.persist(vec![Write::Event { unit, kind }]);
        }
        Ok(())
    }

    pub(super) fn start_services(&mut self, now: Instant) {
        for s in 0..self.services.len() {
            if self.services[s].desired == Desired::Down {
                continue;
            }
            let deps = self.deps(s);
            for r in 0..self.services[s].replicas.len() as u32 {
                let replica = &self.services[s].replicas[r as usize];
                if replica.launching || replica.retry_at.is_some_and(|at| at > now) {
                    continue;
                }
                let due = match &replica.state {
                    ReplicaState::Pending => true,
                    ReplicaState::Blocked { .. } => {
                        if deps != Deps::Met && !matches!(deps, Deps::Blocked(_)) {
                            self.move_replica(s, r, ReplicaEvent::Unblock);
                        }
                        matches!(deps, Deps::Met)
                    }
                    ReplicaState::Backoff { until, .. } => *until <= now,
                    ReplicaState::Stopped { .. } => replica.restart_after_stop,
                    _ => false,
                };
                if !due {
                    continue;
                }
                let fresh = matches!(
                    self.services[s].replicas[r as usize].state,
                    ReplicaState::Pending | ReplicaState::Blocked { .. }
                );
                match (&deps, fresh) {
                    (Deps::Blocked(reason), true) => {
                        let already = matches!(&self.services[s].replicas[r as usize].state,
                            ReplicaState::Blocked { reason: old } if old == reason);
                        if !already {
                            self.move_replica(s, r, ReplicaEvent::Block { reason: reason.clone() });
                        }
                    }
                    (Deps::Waiting, true) => {}
                    _ => self.begin_launch(s, r, now),
                }
            }
        }
    }

    /// Journal a new run for replica `(s, r)`; it launches once committed.
    fn begin_launch(&mut self, s: usize, r: u32, now: Instant) {
        if matches!(self.services[s].replicas[r as usize].state, ReplicaState::Blocked { .. }) {
            self.move_replica(s, r, ReplicaEvent::Unblock);
        }
        let name = self.services[s].spec.name.clone();
        let box_name = self.box_name(&name, &r.to_string());
        let service = &mut self.services[s];
        let replica = &mut service.replicas[r as usize];
        replica.launching = true;
        replica.retry_at = None;
        replica.restart_after_stop = false;
        replica.window.record(now, &service.spec.start_limit);
        let run = NewRun {
            unit: name,
            kind: UnitKind::Service,
            job: None,
            replica: r,
            attempt: replica.restarts + 1,
            pid: None,
            box_name: box_name.clone(),
            started_at: now_millis(),
            limits: service.spec.limits.clone(),
        };
        let followup = super::commit::Followup::LaunchReplica { service: s, replica: r, box_name };
        self.commit(vec![Write::StartRun(run)], followup);
    }

    pub(super) fn launch_replica_committed(
        &mut self,
        s: usize,
        r: u32,
        box_name: String,
        run: Result<Option<RunId>, StoreError>,
    ) {
        let service = &mut self.services[s];
        let replica = &mut service.replicas[r as usize];
        replica.launching = false;
        let run = match run {
            Ok(Some(run)) => run,
            Ok(None) | Err(_) => {
                tracing::error!(service = %service.spec.name, replica = r,
                    "could not journal a new run ({:?}); retrying", run.err());
                replica.retry_at = Some(Instant::now() + STORE_RETRY);
                return;
            }
        };
        if self.shutdown.is_some()
            || self.services[s].desired == Desired::Down
            || self.retired(s, r)
        {
            // Journaled but never launched: close the run so recovery finds nothing open.
            let cause = ExitCause::Stopped;
            let evidence = Evidence {
                decided_by: "stopped before it was launched".into(),
                ..Evidence::default()
            };
            self.persist(vec![Write::EndRun { run, cause, evidence, ended_at: now_millis() }]);
            self.trim_retired(s);
            return;
        }
        self.move_replica(s, r, ReplicaEvent::Launch { run });
        self.runs.insert(run, Owner::Replica { service: s, replica: r });
        let unit = &self.services[s].spec;
        let spec = unit.for_replica(r);
        // The daemon's environment is read here (no syscall) and only an
        // unwalled unit, or a walled one's `inherit_env`, takes from it.
        let mut env = unit.box_environment(r, std::env::vars());
        env.push(("STOCKADE_RUN_ID".to_string(), run.to_string()));
        let request = LaunchRequest {
            run,
            unit: spec.name.clone(),
            box_name,
            argv: spec.command.clone(),
            env,
            cwd: self.launch_cwd(&spec.isolation, spec.cwd.as_ref()),
            limits: spec.limits.clone(),
            isolation: spec.isolation.clone(),
            log: self.log_target(&format!("{}.{r}.log", spec.name)),
        };
        self.effects.push(super::Effect::Launch(Box::new(request)));
    }

    pub(super) fn replica_run_event(&mut self, s: usize, r: u32, event: RunEvent) {
        let run = event.run;
        match event.kind {
            RunEventKind::Started { pid } => {
                let readiness = if self.services[s].has_readiness() {
                    Readiness::Probed
                } else {
                    Readiness::None
                };
                self.move_replica(s, r, ReplicaEvent::Started { pid, readiness });
                self.services[s].replicas[r as usize].run_started =
                    Some((Instant::now(), now_millis()));
                self.start_probes(s, r, run);
                self.persist(vec![Write::RunPid { run, pid }]);
            }
            RunEventKind::SpawnFailed { cause } => {
                let exit = Exit::without_box(cause, "the program never started");
                self.replica_exited(s, r, run, exit);
            }
            RunEventKind::OomKill { .. } => {
                let unit = self.services[s].spec.name.clone();
                self.persist(vec![Write::Event { unit, kind: EventKind::OomKill { run } }]);
            }
            RunEventKind::Exited(exit) => self.replica_exited(s, r, run, *exit),
        }
    }

    fn replica_exited(&mut self, s: usize, r: u32, run: RunId, exit: Exit) {
        self.runs.remove(&run);
        self.effects.push(super::Effect::Forget(run));
        if let Some(shutdown) = self.shutdown.as_mut() {
            shutdown.count(&exit);
        }
        let now = Instant::now();
        let service = &mut self.services[s];
        let replica = &mut service.replicas[r as usize];
        replica.reset_probe_counts();
        self.effects.push(super::Effect::StopProbes(run));
        let asked =
            matches!(replica.state, ReplicaState::Stopping { reason: StopReason::Asked, .. });
        let outcome = Outcome::of(&exit.cause, &service.spec.exit_codes);
        let success = outcome == Outcome::Success;
        let run_started = replica.run_started.take();
        let ran_for = run_started.map(|(at, _)| now.duration_since(at));
        let cause = exit.cause.clone();
        let next = if replica.restart_after_stop && service.desired == Desired::Up {
            replica.restart_after_stop = false;
            replica.window.clear();
            replica.failures = 0;
            AfterExit::Restart { until: now, cause: cause.clone() }
        } else if asked
            || service.desired == Desired::Down
            || self.shutdown.is_some()
            || !wants_restart(service.spec.restart, success)
        {
            AfterExit::Stop { cause: Some(cause.clone()) }
        } else {
            if ran_for.is_some_and(|d| d >= STABLE_AFTER) {
                replica.failures = 0;
            }
            replica.failures += 1;
            if replica.window.exhausted(now, &service.spec.start_limit) {
                AfterExit::GiveUp { cause: cause.clone() }
            } else {
                replica.restarts += 1;
                let delay = backoff::delay(&service.spec.backoff, replica.failures, rand::random());
                AfterExit::Restart { until: now + delay, cause: cause.clone() }
            }
        };
        self.stats.exit(&service.spec.name, "service", cause.kind());
        let abnormal = outcome.is_abnormal();
        let mut writes = vec![Write::EndRun {
            run,
            cause: cause.clone(),
            evidence: exit.evidence.clone(),
            ended_at: now_millis(),
        }];
        if abnormal {
            let pm = postmortem::build(postmortem::Input {
                run,
                unit: &service.spec.name,
                exit: &exit,
                limits: &service.spec.limits,
                restart_count: replica.restarts,
                started_at: run_started.map(|(_, ms)| ms),
                probes: replica.history.iter().cloned().collect(),
                host: exit.host.clone().unwrap_or_else(|| (self.host_snapshot)()),
            });
            writes.push(Write::PostMortem(pm));
        }
        self.persist(writes);
        self.move_replica(s, r, ReplicaEvent::Exited { next });
        self.trim_retired(s);
    }

    /// Send the stop to a live replica (no-op otherwise).
    pub(super) fn stop_replica(&mut self, s: usize, r: u32, reason: StopReason) {
        let spec = &self.services[s].spec;
        let replica = &self.services[s].replicas[r as usize];
        let live = matches!(
            replica.state,
            ReplicaState::Starting { .. }
                | ReplicaState::Running { .. }
                | ReplicaState::Ready { .. }
        );
        let Some(run) = replica.state.run().filter(|_| live) else { return };
        let request = StopRequest { signal: spec.stop.signal, grace: spec.stop.grace, reason };
        self.effects.push(super::Effect::Stop { run, request });
        self.move_replica(s, r, ReplicaEvent::Stop { reason });
    }
}

fn wants_restart(policy: RestartPolicy, success: bool) -> bool {
    match policy {
        RestartPolicy::Never => false,
        RestartPolicy::OnFailure => !success,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
    }
}

fn reason_of(state: &ReplicaState) -> Option<String> {
    match state {
        ReplicaState::Blocked { reason } => Some(reason.clone()),
        ReplicaState::GaveUp { last } => {
            Some(format!("start limit reached (last run: {last}); `stockade restart` clears it"))
        }
        ReplicaState::Backoff { last, .. } => Some(format!("restarting after {last}")),
        ReplicaState::Stopped { last: Some(last) } => Some(format!("last run: {last}")),
        _ => None,
    }
}
