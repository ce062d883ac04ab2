//! Dependencies: whether a service's `depends_on` lets its replicas start
//! (`started | ready | completed | completed_successfully`), and the reason
//! when a dependency that gave up, failed or was stopped blocks it.

use super::Engine;
use super::services::Desired;
use crate::launcher::StopReason;
use crate::replica::{ReplicaEvent, ReplicaState};
use stockade_proto::Outcome;
use stockade_spec::DependsOn;

/// Whether a replica's dependencies let it start.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Deps {
    Met,
    Waiting,
    Blocked(String),
}

impl Engine {
    /// Whether service `s`'s dependencies let it start.
    pub(super) fn deps(&self, s: usize) -> Deps {
        for dep in &self.services[s].spec.depends_on {
            let Some(d) = self.services.iter().position(|svc| svc.spec.name == dep.service) else {
                return Deps::Blocked(format!("dependency `{}` does not exist", dep.service));
            };
            match self.dep_status(d, dep.condition) {
                Deps::Met => {}
                other => return other,
            }
        }
        Deps::Met
    }

    fn dep_status(&self, d: usize, condition: DependsOn) -> Deps {
        let dep = &self.services[d];
        let name = &dep.spec.name;
        let states: Vec<&ReplicaState> = dep.replicas.iter().map(|r| &r.state).collect();
        if let Some(ReplicaState::GaveUp { last }) =
            states.iter().find(|s| matches!(s, ReplicaState::GaveUp { .. }))
        {
            return Deps::Blocked(format!("dependency `{name}` gave up (last run: {last})"));
        }
        if states.iter().any(|s| matches!(s, ReplicaState::Blocked { .. })) {
            return Deps::Blocked(format!("dependency `{name}` is blocked"));
        }
        let all = |f: &dyn Fn(&ReplicaState) -> bool| states.iter().all(|s| f(s));
        let met = match condition {
            DependsOn::Started => all(&|s| {
                matches!(
                    s,
                    ReplicaState::Starting { pid: Some(_), .. }
                        | ReplicaState::Running { .. }
                        | ReplicaState::Ready { .. }
                )
            }),
            DependsOn::Ready if dep.has_readiness() => {
                all(&|s| matches!(s, ReplicaState::Ready { .. }))
            }
            DependsOn::Ready => {
                all(&|s| matches!(s, ReplicaState::Running { .. } | ReplicaState::Ready { .. }))
            }
            DependsOn::Completed => all(&|s| matches!(s, ReplicaState::Stopped { last: Some(_) })),
            DependsOn::CompletedSuccessfully => {
                let codes = &dep.spec.exit_codes;
                if let Some(ReplicaState::Stopped { last: Some(cause) }) = states.iter().find(
                    |s| matches!(s, ReplicaState::Stopped { last: Some(c) } if Outcome::of(c, codes) != Outcome::Success),
                ) {
                    return Deps::Blocked(format!("dependency `{name}` failed ({cause})"));
                }
                all(
                    &|s| matches!(s, ReplicaState::Stopped { last: Some(c) } if Outcome::of(c, codes) == Outcome::Success),
                )
            }
        };
        if met {
            return Deps::Met;
        }
        let stopped_for_good = dep.desired == Desired::Down
            && all(&|s| matches!(s, ReplicaState::Stopped { .. }))
            && matches!(condition, DependsOn::Started | DependsOn::Ready);
        if stopped_for_good {
            return Deps::Blocked(format!("dependency `{name}` is stopped"));
        }
        Deps::Waiting
    }
}

impl Engine {
    /// Whether a service that depends on `name` still has a live replica
    /// (running or launching): `name` must outlive it when stopping.
    pub(super) fn dependents_alive(&self, name: &str) -> bool {
        self.services.iter().any(|other| {
            other.spec.depends_on.iter().any(|d| d.service == name)
                && other.replicas.iter().any(|r| r.state.run().is_some() || r.launching)
        })
    }

    /// Stop every replica of service `s` that is live, and take the ones
    /// waiting to start (pending, blocked, in backoff) to stopped.
    pub(super) fn stop_every_replica(&mut self, s: usize) {
        for r in 0..self.services[s].replicas.len() as u32 {
            let state = self.services[s].replicas[r as usize].state.clone();
            match state {
                ReplicaState::Starting { .. }
                | ReplicaState::Running { .. }
                | ReplicaState::Ready { .. } => self.stop_replica(s, r, StopReason::Asked),
                ReplicaState::Pending
                | ReplicaState::Blocked { .. }
                | ReplicaState::Backoff { .. } => {
                    self.move_replica(s, r, ReplicaEvent::Stop { reason: StopReason::Asked })
                }
                ReplicaState::Stopping { .. }
                | ReplicaState::Stopped { .. }
                | ReplicaState::GaveUp { .. } => {}
            }
        }
    }
}
