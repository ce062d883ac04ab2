//! Service actions (`stockade start | stop | restart`): what each means in
//! each replica state; a move the replica table refuses reaches the caller.

use super::Engine;
use super::services::Desired;
use crate::EngineError;
use crate::command::ServiceAction;
use crate::launcher::StopReason;
use crate::replica::{ReplicaEvent, ReplicaState};
use stockade_proto::ReplicaView;

impl Engine {
    pub(super) fn service_action(
        &mut self,
        name: &str,
        action: ServiceAction,
    ) -> Result<Vec<ReplicaView>, EngineError> {
        if self.shutdown.is_some() {
            return Err(EngineError::ShuttingDown);
        }
        let Some(s) = self.services.iter().position(|svc| svc.spec.name == name) else {
            let known = self.services.iter().map(|svc| svc.spec.name.clone()).collect();
            return Err(EngineError::UnknownService { name: name.into(), known });
        };
        for r in 0..self.services[s].replicas.len() as u32 {
            let state = self.services[s].replicas[r as usize].state.clone();
            let live = state.run().is_some();
            match action {
                ServiceAction::Stop => {
                    self.services[s].desired = Desired::Down;
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
                    self.services[s].desired = Desired::Up;
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
        Ok(self.replica_views(Some(s)))
    }
}

/// A refused replica move, as the caller of a service action hears it.
fn illegal(service: &str, replica: u32, e: crate::IllegalTransition) -> EngineError {
    EngineError::IllegalMove {
        what: format!("service `{service}` replica {replica}"),
        message: e.to_string(),
    }
}
