//! Reload (`stockade reload`, SIGHUP): the plan of [`stockade_spec::diff`],
//! annotated with what the engine knows and carried out through effects.
//!
//! What happens to each unit:
//! - a service `update` takes its new spec at once; changed cgroup limits go
//!   to every live replica's box (`Effect::SetLimits`), no process restarts;
//! - a service `restart` is stopped (every replica, each with its stop
//!   signal and grace) and, once none is live, replaced by fresh replicas of
//!   the new spec, which start as any replica does: after their
//!   dependencies, under their restart policy and probes;
//! - an added service starts; a removed one stops once no service that
//!   depends on it has a live replica (dependents first), then leaves;
//! - a job template's new spec is used by every run admitted from now on
//!   (queued jobs included); running jobs keep their process, and get new
//!   cgroup limits written live;
//! - a pool's limit, queue bound and timeout apply at once;
//! - alert rules and `[monitor]` settings are not the engine's: it swaps
//!   its spec and journals them, and the daemon's monitor takes them from
//!   the daemon's running spec.
//!
//! A reload that would strand live work — a removed template or pool with
//! queued or running jobs — is refused and changes nothing.

use super::services::{Desired, Pending, Service};
use super::{Engine, Owner};
use crate::EngineError;
use crate::command::Reply;
use crate::replica::ReplicaState;
use std::sync::Arc;
use std::time::Duration;
use stockade_proto::{EventKind, JobState, PlanAction, PlanUnit, ReloadPlan, RunId};
use stockade_spec::Spec;
use stockade_store::Write;
use tokio::sync::oneshot;

/// A live limit write in flight: the unit, the run, and its answer.
type LimitWrite = (String, RunId, oneshot::Receiver<Result<(), String>>);

/// How long the reply waits for live limit writes to be confirmed.
const LIMITS_WAIT: Duration = Duration::from_secs(2);

impl Engine {
    pub(super) fn reload(&mut self, new: Arc<Spec>, dry_run: bool, reply: Reply<ReloadPlan>) {
        if self.shutdown.is_some() {
            return super::answer(reply, Err(EngineError::ShuttingDown));
        }
        let mut plan = stockade_spec::diff(&self.spec, &new);
        if let Err(e) = self.refuse_stranding(&plan) {
            return super::answer(reply, Err(e));
        }
        self.annotate(&mut plan);
        if dry_run || plan.is_empty() {
            return super::answer(reply, Ok(plan));
        }
        let old = std::mem::replace(&mut self.spec, new);
        let mut limit_writes = Vec::new();
        for change in plan.units.clone() {
            match (change.kind, change.action) {
                (_, PlanAction::Keep) => {}
                (PlanUnit::Service, action) => {
                    self.reload_service(&change.name, action, &mut limit_writes)
                }
                (PlanUnit::Job, PlanAction::Update) => {
                    let limits_changed = old.jobs.get(&change.name).map(|t| &t.limits)
                        != self.spec.jobs.get(&change.name).map(|t| &t.limits);
                    if limits_changed {
                        self.job_limits(&change.name, &mut limit_writes);
                    }
                }
                // Templates are looked up in the spec at every admission.
                (PlanUnit::Job, _) => {}
                (PlanUnit::Pool, PlanAction::Remove) => {
                    self.pools.remove(&change.name);
                }
                (PlanUnit::Pool, _) => {
                    if let Some(spec) = self.spec.pools.get(&change.name).cloned() {
                        match self.pools.get_mut(&change.name) {
                            Some(pool) => pool.reconfigure(spec),
                            None => {
                                self.pools
                                    .insert(change.name.clone(), super::queue::Pool::new(spec));
                            }
                        }
                    }
                }
            }
        }
        if plan.units.iter().any(|u| u.kind == PlanUnit::Job && u.action != PlanAction::Keep) {
            self.reschedule();
        }
        plan.applied = true;
        // Alert rules are the monitor's: it takes them from the daemon's
        // running spec once this reply says the reload is applied.
        let alerts = plan.alerts.iter().map(|a| format!("{} alert {}", a.action.word(), a.name));
        let units = plan
            .units
            .iter()
            .filter(|u| u.action != PlanAction::Keep)
            .map(|u| format!("{} {} {}", u.action.word(), kind_word(u.kind), u.name))
            .chain(alerts)
            .collect();
        let kind = EventKind::SpecReloaded { summary: plan.summary(), units };
        self.persist(vec![Write::Event { unit: String::new(), kind }]);
        tracing::info!(spec = %plan.spec, "reloaded: {}", plan.summary());
        self.drive_reload();
        if limit_writes.is_empty() {
            return super::answer(reply, Ok(plan));
        }
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + LIMITS_WAIT;
            for (unit, run, rx) in limit_writes {
                let failed = match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(Ok(()))) => None,
                    Ok(Ok(Err(e))) => Some(e),
                    Ok(Err(_)) => None, // the run ended meanwhile
                    Err(_) => Some("no answer from its box in time".to_string()),
                };
                if let Some(e) = failed
                    && let Some(u) = plan.units.iter_mut().find(|u| u.name == unit)
                {
                    let note = format!("run {run}: limits not written: {e}");
                    u.note = Some(match u.note.take() {
                        Some(before) => format!("{before}; {note}"),
                        None => note,
                    });
                }
            }
            super::answer(reply, Ok(plan));
        });
    }

    /// Refuse a plan that removes a template or pool still holding live jobs.
    fn refuse_stranding(&self, plan: &ReloadPlan) -> Result<(), EngineError> {
        for u in plan.units.iter().filter(|u| u.action == PlanAction::Remove) {
            let live = match u.kind {
                PlanUnit::Job => self.jobs.iter().filter(|j| j.record.template == u.name).count(),
                PlanUnit::Pool => self.jobs.iter().filter(|j| j.record.pool == u.name).count(),
                PlanUnit::Service => 0,
            };
            if live > 0 {
                let what = kind_word(u.kind);
                return Err(EngineError::ReloadRefused {
                    message: format!(
                        "{what} `{}` is removed but still has {live} queued or running job(s)",
                        u.name
                    ),
                    hint: format!(
                        "keep [{what}.{}] until they finish, or cancel them (`stockade cancel`), then reload",
                        u.name
                    ),
                });
            }
        }
        Ok(())
    }

    /// Add what only the engine knows: live jobs that keep their template,
    /// replicas whose limits change live, what stops first.
    fn annotate(&self, plan: &mut ReloadPlan) {
        for u in &mut plan.units {
            u.note = match (u.kind, u.action) {
                (PlanUnit::Job, PlanAction::Update) => {
                    let of = |state| {
                        self.jobs
                            .in_state(state)
                            .filter(|id| {
                                self.jobs.get(id).is_some_and(|j| j.record.template == u.name)
                            })
                            .count()
                    };
                    let (running, queued) = (of(JobState::Running), of(JobState::Queued));
                    Some(format!(
                        "new runs use the new template ({queued} queued included); {running} running keep theirs"
                    ))
                }
                (PlanUnit::Service, PlanAction::Update) => {
                    let live = self.live_replicas(&u.name).len();
                    Some(format!("in place, no restart; {live} live replica(s)"))
                }
                (PlanUnit::Service, PlanAction::Restart) => {
                    let live = self.live_replicas(&u.name).len();
                    Some(format!("{live} live replica(s) stop, then start with the new spec"))
                }
                (PlanUnit::Service, PlanAction::Remove) => {
                    let dependents: Vec<&str> = self
                        .services
                        .iter()
                        .filter(|other| other.spec.depends_on.iter().any(|d| d.service == u.name))
                        .map(|other| other.spec.name.as_str())
                        .collect();
                    Some(match dependents.is_empty() {
                        true => "stops now".to_string(),
                        false => format!("stops after its dependents ({})", dependents.join(", ")),
                    })
                }
                (PlanUnit::Pool, PlanAction::Update) => Some("applies at once".to_string()),
                _ => None,
            };
        }
    }

    /// The live runs of service `name`.
    fn live_replicas(&self, name: &str) -> Vec<RunId> {
        let Some(service) = self.services.iter().find(|s| s.spec.name == name) else {
            return Vec::new();
        };
        service.replicas.iter().filter_map(|r| live_run(&r.state)).collect()
    }

    fn reload_service(&mut self, name: &str, action: PlanAction, writes: &mut Vec<LimitWrite>) {
        let existing = self.services.iter().position(|s| s.spec.name == name);
        let new = self.spec.service(name).cloned();
        match (action, existing, new) {
            (PlanAction::Add, None, Some(spec)) => self.services.push(Service::new(spec)),
            // Re-added while it still stops: it comes back once stopped.
            (PlanAction::Add, Some(s), Some(spec)) => {
                self.services[s].pending =
                    Some(Pending::Replace { spec: Box::new(spec), desired: Desired::Up });
            }
            (PlanAction::Update, Some(s), Some(spec)) => {
                let limits_changed = self.services[s].spec.limits != spec.limits;
                self.services[s].spec = spec;
                if limits_changed {
                    let limits = self.services[s].spec.limits.clone();
                    for run in self.live_replicas(name) {
                        writes.push((name.to_string(), run, self.set_limits(run, limits.clone())));
                    }
                }
            }
            (PlanAction::Restart, Some(s), Some(spec)) => {
                let desired = self.services[s].desired;
                self.services[s].pending = Some(Pending::Replace { spec: Box::new(spec), desired });
            }
            (PlanAction::Remove, Some(s), None) => {
                self.services[s].pending = Some(Pending::Remove);
            }
            (action, existing, _) => {
                tracing::error!(
                    service = name,
                    ?action,
                    ?existing,
                    "reload: plan and engine disagree"
                )
            }
        }
    }

    fn job_limits(&mut self, template: &str, writes: &mut Vec<LimitWrite>) {
        let Some(limits) = self.spec.jobs.get(template).map(|t| t.limits.clone()) else { return };
        let runs: Vec<RunId> = self
            .runs
            .iter()
            .filter_map(|(run, owner)| match owner {
                Owner::Job(id) => {
                    self.jobs.get(id).filter(|j| j.record.template == template).map(|_| *run)
                }
                Owner::Replica { .. } => None,
            })
            .collect();
        for run in runs {
            writes.push((template.to_string(), run, self.set_limits(run, limits.clone())));
        }
    }

    fn set_limits(
        &mut self,
        run: RunId,
        limits: stockade_proto::Limits,
    ) -> oneshot::Receiver<Result<(), String>> {
        let (reply, rx) = oneshot::channel();
        self.effects.push(super::Effect::SetLimits { run, limits, reply });
        rx
    }

    /// Carry pending service changes forward (every reconcile): stop what
    /// must stop — a removed service only once no dependent is live — and
    /// replace or drop a service once none of its replicas is live.
    pub(super) fn drive_reload(&mut self) {
        for s in 0..self.services.len() {
            let Some(pending) = &self.services[s].pending else { continue };
            if matches!(pending, Pending::Remove)
                && self.dependents_alive(&self.services[s].spec.name)
            {
                continue;
            }
            self.services[s].desired = Desired::Down;
            for replica in &mut self.services[s].replicas {
                replica.restart_after_stop = false;
            }
            self.stop_every_replica(s);
        }
        // Swap or drop services with nothing live; indices shift on a drop,
        // so only when no launch commit (which names a service by index) is
        // in flight anywhere.
        let launching = self.services.iter().any(|s| s.replicas.iter().any(|r| r.launching));
        let mut s = 0;
        while s < self.services.len() {
            let quiet =
                self.services[s].replicas.iter().all(|r| r.state.run().is_none() && !r.launching);
            match self.services[s].pending.take() {
                Some(Pending::Replace { spec, desired }) if quiet => {
                    let mut fresh = Service::new(*spec);
                    fresh.desired = desired;
                    self.replace_service(s, fresh);
                }
                Some(Pending::Remove) if quiet && !launching => {
                    let forget = self.forget_overrides(s);
                    self.persist(forget);
                    self.services.remove(s);
                    for owner in self.runs.values_mut() {
                        if let Owner::Replica { service, .. } = owner
                            && *service > s
                        {
                            *service -= 1;
                        }
                    }
                    continue;
                }
                other => self.services[s].pending = other,
            }
            s += 1;
        }
    }
}

fn live_run(state: &ReplicaState) -> Option<RunId> {
    match state {
        ReplicaState::Starting { .. }
        | ReplicaState::Running { .. }
        | ReplicaState::Ready { .. } => state.run(),
        _ => None,
    }
}

fn kind_word(kind: PlanUnit) -> &'static str {
    match kind {
        PlanUnit::Service => "service",
        PlanUnit::Job => "job",
        PlanUnit::Pool => "pool",
    }
}
