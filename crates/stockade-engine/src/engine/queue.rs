//! [`Pool`]: one pool's queue (priority, then FIFO, with O(log n) positions),
//! its counts and limit, and why its head waits.

use super::ranked::Ranked;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use stockade_proto::JobId;
use stockade_spec::{Concurrency, PoolSpec, Spec};

/// Where a queued job sorts: higher priority first, then lower id (FIFO).
pub(super) type QueueKey = (Reverse<i32>, JobId);

/// The key of a job of `priority` and `id`.
pub(super) fn queue_key(priority: i32, id: JobId) -> QueueKey {
    (Reverse(priority), id)
}

/// Why a pool's head is not starting: the decision counted in
/// `EngineStats::admissions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HoldKind {
    /// `max_concurrency` jobs are running.
    PoolFull,
    /// Every queued job waits out a retry backoff.
    RetryBackoff,
    /// The host has no room for the head's request.
    HostHeadroom,
}

impl HoldKind {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::PoolFull => "pool_full",
            HoldKind::RetryBackoff => "retry_backoff",
            HoldKind::HostHeadroom => "host_headroom",
        }
    }
}

/// A hold in force: its kind and the words shown to people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hold {
    pub kind: HoldKind,
    pub reason: String,
}

pub(super) struct Pool {
    pub spec: PoolSpec,
    /// Queued jobs in start order.
    pub queue: Ranked<QueueKey>,
    /// Jobs launching or running.
    pub running: u64,
    /// The limit in force.
    pub limit: u64,
    /// Submissions not yet committed (count against `max_queued`).
    pub submitting: u64,
    /// Why the head of the queue is not starting, if it is not.
    pub hold: Option<Hold>,
    /// For `auto` pools: the adaptive limit and recent outcomes.
    pub adaptive: Option<super::admission::Adaptive>,
    /// Why the limit is what it is (auto pools).
    pub limit_reason: Option<String>,
    /// Jobs that ended but whose end is not committed yet: views still count
    /// them as running (their last committed state), admission does not.
    pub finishing: u64,
}

/// The pools of the spec (which always holds `default`).
pub(super) fn pools_from_spec(spec: &Spec) -> BTreeMap<String, Pool> {
    spec.pools.values().map(|p| (p.name.clone(), Pool::new(p.clone()))).collect()
}

impl Pool {
    pub fn new(spec: PoolSpec) -> Pool {
        let (limit, adaptive) = match spec.max_concurrency {
            Concurrency::Fixed(n) => (n as u64, None),
            Concurrency::Auto { min, max } => {
                (min.max(1) as u64, Some(super::admission::Adaptive::new(min, max)))
            }
        };
        Pool {
            spec,
            queue: Ranked::default(),
            running: 0,
            limit,
            submitting: 0,
            hold: None,
            adaptive,
            limit_reason: None,
            finishing: 0,
        }
    }

    /// Take a reloaded spec: a new `max_concurrency` applies at once (an
    /// `auto` pool starts again from its `min`); the queue is kept.
    pub fn reconfigure(&mut self, spec: PoolSpec) {
        if spec.max_concurrency != self.spec.max_concurrency {
            let fresh = Pool::new(spec.clone());
            self.limit = fresh.limit;
            self.adaptive = fresh.adaptive;
            self.limit_reason = None;
            self.hold = None;
        }
        self.spec = spec;
    }

    /// Jobs ahead of `key` in the queue, in O(log n).
    pub fn position(&self, key: &QueueKey) -> u64 {
        self.queue.rank(key) as u64
    }

    /// Why the head waits, in words.
    pub fn held_because(&self) -> Option<&str> {
        self.hold.as_ref().map(|h| h.reason.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_the_jobs_ahead_in_priority_then_fifo_order() {
        let mut pool = Pool::new(PoolSpec {
            name: "p".into(),
            max_concurrency: Concurrency::Fixed(1),
            max_queued: 10,
            queue_timeout: None,
        });
        let key = |priority: i32, id: u64| queue_key(priority, JobId(id));
        for k in [key(0, 1), key(0, 2), key(5, 4), key(0, 3), key(-1, 5)] {
            pool.queue.insert(k);
        }
        assert_eq!(pool.position(&key(5, 4)), 0);
        assert_eq!(pool.position(&key(0, 1)), 1);
        assert_eq!(pool.position(&key(0, 3)), 3);
        assert_eq!(pool.position(&key(-1, 5)), 4);
    }
}
