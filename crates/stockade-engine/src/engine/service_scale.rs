//! `stockade scale NAME N`: more or fewer replicas of a running service.
//!
//! Scaling up appends replicas `count..N`, which start like any pending
//! replica (dependencies and all). Scaling down retires the replicas `N..`:
//! each live one is stopped as asked (its grace honoured), each idle one is
//! moved to stopped, and a retired replica leaves the table once nothing of
//! it runs or launches. The new count is journaled ([`Write::ServiceScaled`])
//! and outlives the daemon while the spec's `replicas` stays the value it
//! overrode (`service_overrides.rs`); a scale to the spec's own count
//! forgets it. Held replicas (`stop NAME[N]`) at or past the new count are
//! forgotten.

use super::Engine;
use super::services::Replica;
use crate::EngineError;
use crate::launcher::StopReason;
use crate::replica::{ReplicaEvent, ReplicaState};
use stockade_proto::ReplicaView;
use stockade_store::{Scale, Write};

impl Engine {
    pub(super) fn scale_service(
        &mut self,
        name: &str,
        replicas: u32,
    ) -> Result<Vec<ReplicaView>, EngineError> {
        if self.shutdown.is_some() {
            return Err(EngineError::ShuttingDown);
        }
        let Some(s) = self.services.iter().position(|svc| svc.spec.name == name) else {
            let known = self.services.iter().map(|svc| svc.spec.name.clone()).collect();
            return Err(EngineError::UnknownService { name: name.into(), known });
        };
        if replicas == 0 {
            return Err(EngineError::BadRequest {
                message: format!(
                    "cannot scale `{name}` to 0 replicas; `stockade stop {name}` stops it and keeps it down"
                ),
            });
        }
        let count = self.services[s].replicas.len() as u32;
        let before = self.services[s].count();
        let spec_replicas = self.services[s].spec.replicas;
        let scaled = (replicas != spec_replicas.max(1)).then_some(replicas);
        self.services[s].scaled = scaled;
        let scale = scaled.map(|replicas| Scale { replicas, spec_replicas });
        let mut writes = vec![Write::ServiceScaled { service: name.to_owned(), scale }];
        if self.services[s].held.split_off(&replicas).into_iter().next().is_some() {
            writes.push(Write::ReplicasReleased { service: name.to_owned(), from: replicas });
        }
        self.persist(writes);
        for r in count..replicas {
            self.services[s].replicas.push(Replica::new(r));
        }
        // Retired by an earlier scale-down but not yet gone: wanted again.
        for r in before..count.min(replicas) {
            let replica = &mut self.services[s].replicas[r as usize];
            match replica.state {
                ReplicaState::Stopping { .. } => replica.restart_after_stop = true,
                ReplicaState::Stopped { .. } => self.move_replica(s, r, ReplicaEvent::Reset),
                _ => {}
            }
        }
        for r in replicas..count {
            let state = self.services[s].replicas[r as usize].state.clone();
            if state.run().is_some() {
                self.stop_replica(s, r, StopReason::Asked);
            } else if !matches!(state, ReplicaState::Stopped { .. }) {
                self.move_replica(s, r, ReplicaEvent::Stop { reason: StopReason::Asked });
            }
        }
        self.trim_retired(s);
        self.reconcile();
        Ok(self.replica_views(Some(s)))
    }

    /// Drop retired replicas (past the service's count) from the end of its
    /// table once nothing of them runs or launches.
    pub(super) fn trim_retired(&mut self, s: usize) {
        let service = &mut self.services[s];
        while service.replicas.len() as u32 > service.count() {
            let Some(last) = service.replicas.last() else { break };
            if last.launching || last.state.run().is_some() {
                break;
            }
            service.replicas.pop();
        }
    }

    /// Whether replica `r` of service `s` was retired by a scale-down.
    pub(super) fn retired(&self, s: usize, r: u32) -> bool {
        r >= self.services[s].count()
    }
}
