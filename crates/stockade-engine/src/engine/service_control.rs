//! Service actions (`stockade start | stop | restart`): what each means in
//! each replica state; a move the replica table refuses reaches the caller.
//! An action on one replica (`name[3]`) moves only that one and leaves the
//! service's desired state alone. Stops are journaled so the next daemon
//! keeps them: a whole service's ([`Write::ServiceHeld`]) until `start` or
//! `restart` of it, one replica's ([`Write::ReplicaHeld`]) until `start` or
//! `restart` of that replica or of the whole service.

use super::Engine;
use super::services::Desired;
use crate::EngineError;
use crate::command::ServiceAction;
use crate::launcher::StopReason;
use crate::replica::{ReplicaEvent, ReplicaState};
use stockade_proto::ReplicaView;
use stockade_store::Write;

impl Engine {
    pub(super) fn service_action(
        &mut self,
        name: &str,
        action: ServiceAction,
        only: Option<u32>,
    ) -> Result<Vec<ReplicaView>, EngineError> {
        if self.shutdown.is_some() {
            return Err(EngineError::ShuttingDown);
        }
        let Some(s) = self.services.iter().position(|svc| svc.spec.name == name) else {
            let known = self.services.iter().map(|svc| svc.spec.name.clone()).collect();
            return Err(EngineError::UnknownService { name: name.into(), known });
        };
        let count = self.services[s].replicas.len() as u32;
        let chosen = match only {
            Some(r) if r >= count => {
                return Err(EngineError::BadRequest {
                    message: format!(
                        "service `{name}` has {count} replica(s), {name}[0] to {name}[{}]; there is no {name}[{r}]",
                        count.saturating_sub(1)
                    ),
                });
            }
            Some(r) => r..r + 1,
            None => 0..count,
        };
        let whole = only.is_none();
        let stop = action == ServiceAction::Stop;
        let service = &mut self.services[s];
        let mut writes = Vec::new();
        match only {
            None => {
                writes.push(Write::ServiceHeld { service: name.to_owned(), held: stop });
                if !stop && !service.held.is_empty() {
                    service.held.clear();
                    writes.push(Write::ReplicasReleased { service: name.to_owned(), from: 0 });
                }
            }
            Some(r) => {
                let changed = if stop { service.held.insert(r) } else { service.held.remove(&r) };
                if changed {
                    writes.push(Write::ReplicaHeld {
                        service: name.to_owned(),
                        replica: r,
                        held: stop,
                    });
                }
            }
        }
        self.persist(writes);
        for r in chosen {
            let state = self.services[s].replicas[r as usize].state.clone();
            let live = state.run().is_some();
            match action {
                ServiceAction::Stop => {
                    if whole {
                        self.services[s].desired = Desired::Down;
                    }
                    if live {
                        self.stop_replica(s, r, StopReason::Asked);
                    } else if !matches!(state, ReplicaState::Stopped { .. }) {
                        self.try_move_replica(
                            s,
                            r,
                            ReplicaEvent::Stop { reason: StopReason::Asked },
                        )
                        .map_err(|e| illegal(name, r, e))?;
                    }
                }
                ServiceAction::Start | ServiceAction::Restart => {
                    if whole {
                        self.services[s].desired = Desired::Up;
                    }
                    let replica = &mut self.services[s].replicas[r as usize];
                    replica.window.clear();
                    replica.failures = 0;
                    if live && action == ServiceAction::Restart {
                        if !matches!(state, ReplicaState::Stopping { .. }) {
                            self.services[s].replicas[r as usize].restart_after_stop = true;
                            self.stop_replica(s, r, StopReason::Asked);
                        } else {
                            self.services[s].replicas[r as usize].restart_after_stop = true;
                        }
                    } else if matches!(
                        state,
                        ReplicaState::GaveUp { .. }
                            | ReplicaState::Stopped { .. }
                            | ReplicaState::Blocked { .. }
                    ) {
                        self.try_move_replica(s, r, ReplicaEvent::Reset)
                            .map_err(|e| illegal(name, r, e))?;
                    } else if matches!(state, ReplicaState::Backoff { .. }) {
                        // Start now instead of waiting out the backoff.
                        self.services[s].replicas[r as usize].restart_after_stop = true;
                        self.try_move_replica(
                            s,
                            r,
                            ReplicaEvent::Stop { reason: StopReason::Asked },
                        )
                        .map_err(|e| illegal(name, r, e))?;
                    }
                }
            }
        }
        self.reconcile();
        let views = self.replica_views(Some(s));
        Ok(match only {
            Some(r) => views.into_iter().filter(|v| v.replica == r).collect(),
            None => views,
        })
    }
}

/// A refused replica move, as the caller of a service action hears it.
fn illegal(service: &str, replica: u32, e: crate::IllegalTransition) -> EngineError {
    EngineError::IllegalMove {
        what: format!("service `{service}` replica {replica}"),
        message: e.to_string(),
    }
}
