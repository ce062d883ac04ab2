//! What `stockade scale` and `stockade stop` leave for the next daemon, and
//! how the engine takes it back (issue 14).
//!
//! - A **scale** (`scaled_services`) holds while the spec's `replicas` is
//!   still the value it overrode. At start, and when a reload replaces the
//!   service, a spec whose `replicas` changed wins and the scale is
//!   forgotten. It is applied before adoption, so the replicas past the
//!   spec's count are known when their boxes are adopted.
//! - A **held service** (`held_services`) and a **held replica**
//!   (`held_replicas`) stay stopped. They are applied after adoption: a
//!   pending replica is moved to stopped, an adopted one (the daemon died
//!   before its stop finished) is stopped again. A held replica at or past
//!   the count, or of a service no longer in the spec, is forgotten.
//!
//! A service that leaves the spec on reload forgets its scale and held
//! replicas; one replaced by a reload keeps the held replicas below its new
//! count.

use super::Engine;
use super::services::{Desired, Replica, Service};
use crate::launcher::StopReason;
use crate::replica::ReplicaState;
use std::collections::BTreeMap;
use stockade_store::{Scale, Write};

impl Engine {
    /// At start, before adoption: run the scales that still apply.
    pub(super) fn restore_scales(&mut self, scales: &BTreeMap<String, Scale>) {
        let mut writes = Vec::new();
        for (name, scale) in scales {
            match self.services.iter_mut().find(|s| &s.spec.name == name) {
                Some(service) if service.spec.replicas == scale.spec_replicas => {
                    service.scaled = Some(scale.replicas);
                    service.replicas = (0..service.count()).map(Replica::new).collect();
                }
                _ => {
                    tracing::info!(service = %name, "the spec's replicas changed since `stockade scale`; the scale is forgotten");
                    writes.push(Write::ServiceScaled { service: name.clone(), scale: None });
                }
            }
        }
        self.persist(writes);
    }

    /// At start, after adoption: keep down the services and replicas a
    /// `stockade stop` left down.
    pub(super) fn restore_holds(&mut self, services: &[String], replicas: &[(String, u32)]) {
        let mut writes = Vec::new();
        for (name, r) in replicas {
            match self.services.iter_mut().find(|s| &s.spec.name == name) {
                Some(service) if *r < service.count() => {
                    service.held.insert(*r);
                }
                _ => writes.push(Write::ReplicaHeld {
                    service: name.clone(),
                    replica: *r,
                    held: false,
                }),
            }
        }
        self.persist(writes);
        for s in 0..self.services.len() {
            let whole = services.contains(&self.services[s].spec.name);
            if whole {
                self.services[s].desired = Desired::Down;
            }
            for r in 0..self.services[s].replicas.len() as u32 {
                if whole || self.services[s].held.contains(&r) {
                    self.keep_down(s, r);
                }
            }
        }
    }

    /// Replica `(s, r)` is held: a pending one is stopped at once, a live
    /// (adopted) one is sent its stop.
    fn keep_down(&mut self, s: usize, r: u32) {
        let whole = self.services[s].desired == Desired::Down;
        let reason = hold_reason(&self.services[s].spec.name, (!whole).then_some(r));
        let replica = &mut self.services[s].replicas[r as usize];
        if matches!(replica.state, ReplicaState::Pending) {
            replica.state = ReplicaState::Stopped { last: None };
            replica.reason = Some(reason);
        } else if replica.state.run().is_some() {
            tracing::info!(service = %self.services[s].spec.name, replica = r,
                "an adopted replica was stopped by `stockade stop`; stopping it again");
            self.stop_replica(s, r, StopReason::Asked);
        }
    }

    /// A reload replaces service `s` by `fresh` (none of its replicas is
    /// live): the scale carries over if the spec's `replicas` is unchanged,
    /// the held replicas below the new count stay down.
    pub(super) fn replace_service(&mut self, s: usize, mut fresh: Service) {
        let old = &self.services[s];
        let name = fresh.spec.name.clone();
        let mut writes = Vec::new();
        if old.scaled.is_some() {
            if fresh.spec.replicas == old.spec.replicas {
                fresh.scaled = old.scaled;
                fresh.replicas = (0..fresh.count()).map(Replica::new).collect();
            } else {
                writes.push(Write::ServiceScaled { service: name.clone(), scale: None });
            }
        }
        let count = fresh.count();
        fresh.held = old.held.iter().copied().filter(|r| *r < count).collect();
        if fresh.held.len() < old.held.len() {
            writes.push(Write::ReplicasReleased { service: name, from: count });
        }
        self.services[s] = fresh;
        self.persist(writes);
        let held: Vec<u32> = self.services[s].held.iter().copied().collect();
        for r in held {
            self.keep_down(s, r);
        }
    }

    /// The writes that forget what `stockade scale` and `stockade stop
    /// NAME[N]` left of service `s`, which leaves the spec.
    pub(super) fn forget_overrides(&self, s: usize) -> Vec<Write> {
        let service = &self.services[s];
        let name = &service.spec.name;
        let mut writes = Vec::new();
        if service.scaled.is_some() {
            writes.push(Write::ServiceScaled { service: name.clone(), scale: None });
        }
        if !service.held.is_empty() {
            writes.push(Write::ReplicasReleased { service: name.clone(), from: 0 });
        }
        writes
    }
}

/// Why a held replica is stopped, and how it comes back: `replica` is
/// `None` for a whole service's stop.
pub(super) fn hold_reason(service: &str, replica: Option<u32>) -> String {
    match replica {
        None => "stopped by `stockade stop`; `stockade start` brings it back".to_owned(),
        Some(r) => format!(
            "stopped by `stockade stop {service}[{r}]`; `stockade start {service}[{r}]` brings it back"
        ),
    }
}
