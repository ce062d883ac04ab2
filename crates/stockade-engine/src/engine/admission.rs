//! Admission: the loop that starts queued jobs while their pools and the
//! host have room, and the adaptive limit of pools with
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
use super::job_life::JobLife;
use super::queue::{Hold, HoldKind, Pool};
use std::collections::VecDeque;
use stockade_host::{AdaptiveLimit, AgentNeed, Headroom, PressureSignals};
use stockade_proto::{EventKind, JobId, Outcome};
use stockade_store::Write;
use tokio::time::Instant;

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
    pub fn record_outcome(&mut self, outcome: Outcome) {
        if let Some(adaptive) = self.adaptive.as_mut() {
            if adaptive.outcomes.len() == OUTCOMES {
                adaptive.outcomes.pop_front();
            }
            adaptive.outcomes.push_back(!outcome.is_abnormal());
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

    /// Start queued jobs while their pools and the host have room.
    pub(super) fn admit_jobs(&mut self, now: Instant) {
        let names: Vec<String> = self.pools.keys().cloned().collect();
        for name in names {
            while let Some(id) = self.admit_one(&name, now) {
                self.start_job(id);
            }
        }
    }

    /// The next job of pool `name` that may start now, taken out of its
    /// queue with its request held; `None` (and the hold recorded) if none.
    fn admit_one(&mut self, name: &str, now: Instant) -> Option<JobId> {
        let pool = &self.pools[name];
        if pool.queue.is_empty() {
            self.pools.get_mut(name)?.hold = None;
            return None;
        }
        if pool.running >= pool.limit {
            let reason = format!("pool full: {}/{} running", pool.running, pool.limit);
            self.hold(name, HoldKind::PoolFull, reason);
            return None;
        }
        let ready = |id: &JobId| {
            self.jobs.get(id).is_none_or(|j| match j.life {
                JobLife::Queued { retry_at, .. } => retry_at.is_none_or(|at| at <= now),
                _ => true,
            })
        };
        let Some(key) = pool.queue.iter().copied().find(|(_, id)| ready(id)) else {
            self.hold(name, HoldKind::RetryBackoff, "waiting out retry backoff".to_string());
            return None;
        };
        let id = key.1;
        let template = self.jobs.get(&id).and_then(|j| self.spec.jobs.get(&j.record.template));
        if let Some(template) = template {
            let need = self.requests.need(&template.name, name, &template.limits);
            if let Err(hold) = self.take_room(id, &need) {
                self.hold(name, HoldKind::HostHeadroom, hold);
                return None;
            }
        }
        if let Some(JobLife::Queued { enqueued_at, .. }) = self.jobs.get(&id).map(|j| &j.life) {
            let waited = now.saturating_duration_since(*enqueued_at).as_secs_f64();
            self.stats.queue_wait.entry(name.to_string()).or_default().observe(waited);
        }
        self.stats.admission(name, "admitted");
        let pool = self.pools.get_mut(name)?;
        pool.queue.remove(&key);
        pool.hold = None;
        pool.running += 1;
        Some(id)
    }

    /// The head of `pool`'s queue waits, for `reason`; counted once per
    /// change of kind.
    fn hold(&mut self, pool: &str, kind: HoldKind, reason: String) {
        let Some(p) = self.pools.get_mut(pool) else { return };
        let counted = p.hold.as_ref().is_some_and(|h| h.kind == kind);
        p.hold = Some(Hold { kind, reason });
        if !counted {
            self.stats.admission(pool, kind.as_str());
        }
    }

    /// Whether the host has room for `job`, counted as `need`; holds it if so.
    pub(super) fn take_room(&mut self, job: JobId, need: &AgentNeed) -> Result<(), String> {
        let now = tokio::time::Instant::now();
        self.ledger.take(job, need, now).map_err(|hold| format!("host {hold}"))
    }
}
