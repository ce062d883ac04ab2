//! Admission by the host's headroom, and the adaptive limit of pools with
//! `max_concurrency = "auto"`.
//!
//! The engine does not read `/proc` itself (a read costs ~0.3 ms of blocking
//! I/O): the daemon samples the host on a blocking thread and sends a
//! [`HostSample`] down a channel; tests send their own. Each sample goes to
//! the [`super::ledger::Ledger`], which holds every admission's request
//! (`super::request`) until a sample reflects it and gives it back the
//! moment the run ends, so a burst cannot spend the same room twice and a
//! herd of short jobs never waits for the next sample.

use super::Engine;
use super::jobs::Pool;
use std::collections::VecDeque;
use stockade_host::{AdaptiveLimit, AgentNeed, Headroom, PressureSignals};
use stockade_proto::{EventKind, ExitCause, JobId};
use stockade_store::Write;

/// How many recent runs of a pool its failure rate looks at.
const OUTCOMES: usize = 20;

/// One reading of the host.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostSample {
    /// What is left above the reserve; `None` when it could not be measured
    /// (then nothing is held back for lack of it).
    pub headroom: Option<Headroom>,
    /// PSI memory `some` avg10, percent.
    pub psi_memory_some: Option<f64>,
    /// PSI cpu `some` avg10, percent.
    pub psi_cpu_some: Option<f64>,
}

/// The adaptive part of an `auto` pool.
pub(super) struct Adaptive {
    limit: AdaptiveLimit,
    outcomes: VecDeque<bool>,
    /// Why the limit last changed.
    last_change: Option<String>,
}

impl Adaptive {
    pub fn new(min: u32, max: u32) -> Adaptive {
        Adaptive {
            limit: AdaptiveLimit::new(min, max),
            outcomes: VecDeque::new(),
            last_change: None,
        }
    }

    fn failure_rate(&self) -> Option<f64> {
        if self.outcomes.is_empty() {
            return None;
        }
        let failed = self.outcomes.iter().filter(|ok| !**ok).count();
        Some(failed as f64 / self.outcomes.len() as f64)
    }
}

impl Pool {
    /// Remember how a run of this pool ended (for the failure rate).
    pub fn record_outcome(&mut self, cause: &ExitCause) {
        if let Some(adaptive) = self.adaptive.as_mut() {
            if adaptive.outcomes.len() == OUTCOMES {
                adaptive.outcomes.pop_front();
            }
            let failed = !matches!(cause, ExitCause::Exited { code: 0 } | ExitCause::Stopped);
            adaptive.outcomes.push_back(!failed);
        }
    }
}

impl Engine {
    pub(super) fn on_host_sample(&mut self, sample: HostSample) {
        self.ledger.on_sample(tokio::time::Instant::now(), sample.headroom);
        let now = tokio::time::Instant::now().into_std();
        let mut changes = Vec::new();
        for pool in self.pools.values_mut() {
            let busy = !pool.queue.is_empty() && pool.running >= pool.limit;
            let Some(adaptive) = pool.adaptive.as_mut() else { continue };
            let signals = PressureSignals {
                psi_memory_some_avg10: sample.psi_memory_some,
                psi_cpu_some_avg10: sample.psi_cpu_some,
                failure_rate: adaptive.failure_rate(),
                busy,
            };
            let decision = adaptive.limit.observe(now, signals);
            let before = pool.limit;
            pool.limit = u64::from(decision.limit);
            let now_reason = decision.reason.to_string();
            if decision.changed {
                adaptive.last_change = Some(format!("{before} → {}: {now_reason}", decision.limit));
            }
            pool.limit_reason = Some(match &adaptive.last_change {
                Some(change) if !decision.changed => format!("{change} (now: {now_reason})"),
                _ => now_reason,
            });
            if decision.changed {
                changes.push(Write::Event {
                    unit: String::new(),
                    kind: EventKind::Daemon {
                        message: format!(
                            "pool `{}`: max_concurrency {before} → {}: {}",
                            pool.spec.name, decision.limit, decision.reason
                        ),
                    },
                });
            }
        }
        self.persist(changes);
    }

    /// Whether the host has room for `job`, counted as `need`; holds it if so.
    pub(super) fn take_room(&mut self, job: JobId, need: &AgentNeed) -> Result<(), String> {
        let now = tokio::time::Instant::now();
        self.ledger.take(job, need, now).map_err(|hold| format!("host {hold}"))
    }
}
