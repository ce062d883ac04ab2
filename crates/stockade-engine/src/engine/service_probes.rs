//! Probes of a live replica: ask for them with its run (the shell runs the
//! probe tasks), and count their results into readiness (ready / lost) and
//! liveness (stop the run).

use super::Engine;
use super::services::PROBE_HISTORY;
use crate::launcher::StopReason;
use crate::probe::{ProbeKind, ProbeResult};
use crate::replica::{ReplicaEvent, ReplicaState};
use stockade_proto::{ProbeRecord, RunId, now_millis};

impl Engine {
    pub(super) fn start_probes(&mut self, s: usize, r: u32, run: RunId) {
        let spec = self.services[s].spec.for_replica(r);
        let probes: Vec<_> =
            [(ProbeKind::Readiness, spec.readiness), (ProbeKind::Liveness, spec.liveness)]
                .into_iter()
                .filter_map(|(kind, probe)| probe.map(|p| (kind, p)))
                .collect();
        if !probes.is_empty() {
            self.effects.push(super::Effect::StartProbes { run, probes });
        }
    }

    pub(super) fn replica_probe(&mut self, s: usize, r: u32, result: ProbeResult) {
        let service = &mut self.services[s];
        let replica = &mut service.replicas[r as usize];
        if replica.state.run() != Some(result.run) {
            return;
        }
        if replica.history.len() == PROBE_HISTORY {
            replica.history.pop_front();
        }
        replica.history.push_back(ProbeRecord {
            at: now_millis(),
            probe: result.kind.as_str().into(),
            ok: result.ok,
            detail: result.detail.clone(),
        });
        let event = match result.kind {
            ProbeKind::Readiness => {
                let spec = service.spec.readiness.as_ref();
                let (ok_needed, fail_needed) = spec
                    .map_or((1, 3), |p| (p.success_threshold.max(1), p.failure_threshold.max(1)));
                if result.ok {
                    replica.ready_ok += 1;
                    replica.ready_fail = 0;
                } else {
                    replica.ready_fail += 1;
                    replica.ready_ok = 0;
                }
                match &replica.state {
                    ReplicaState::Starting { pid: Some(_), .. } | ReplicaState::Running { .. }
                        if replica.ready_ok >= ok_needed =>
                    {
                        Some(ReplicaEvent::ReadyPassed)
                    }
                    ReplicaState::Ready { .. } if replica.ready_fail >= fail_needed => {
                        Some(ReplicaEvent::ReadyLost)
                    }
                    _ => None,
                }
            }
            ProbeKind::Liveness => {
                let needed =
                    service.spec.liveness.as_ref().map_or(3, |p| p.failure_threshold.max(1));
                replica.live_fail = if result.ok { 0 } else { replica.live_fail + 1 };
                let live = matches!(
                    replica.state,
                    ReplicaState::Starting { pid: Some(_), .. }
                        | ReplicaState::Running { .. }
                        | ReplicaState::Ready { .. }
                );
                if live && replica.live_fail >= needed {
                    tracing::warn!(service = %service.spec.name, replica = r,
                        "liveness failed {} times ({}); restarting", replica.live_fail, result.detail);
                    self.stop_replica(s, r, StopReason::Liveness);
                }
                None
            }
        };
        if let Some(event) = event {
            self.move_replica(s, r, event);
        }
    }
}
