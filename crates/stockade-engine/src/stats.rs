//! [`EngineStats`]: counters the engine keeps for `/metrics`. Labels are
//! bounded by the spec (unit and pool names, cause kinds), never by ids.

use std::collections::BTreeMap;

/// Upper bounds (seconds) of the queue-wait histogram buckets.
pub const WAIT_BUCKETS: [f64; 9] = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 300.0, 3600.0];

/// Counters since the daemon started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineStats {
    /// Runs that ended, by (unit, `service`|`job`, cause kind).
    pub exits: BTreeMap<(String, String, String), u64>,
    /// Admission decisions by (pool, decision): `admitted`, `pool_full`,
    /// `host_headroom`, `retry_backoff`. Holds count when a pool starts
    /// holding for that reason, not on every check.
    pub admissions: BTreeMap<(String, String), u64>,
    /// How long jobs waited in each pool before starting.
    pub queue_wait: BTreeMap<String, WaitHistogram>,
}

/// A cumulative histogram of waits, in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaitHistogram {
    /// Count of waits at or below each bound of [`WAIT_BUCKETS`].
    pub buckets: [u64; WAIT_BUCKETS.len()],
    /// All waits.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum: f64,
}

impl WaitHistogram {
    /// Record one wait.
    pub fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(WAIT_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

impl EngineStats {
    pub(crate) fn exit(&mut self, unit: &str, kind: &str, cause: &str) {
        *self.exits.entry((unit.into(), kind.into(), cause.into())).or_default() += 1;
    }

    pub(crate) fn admission(&mut self, pool: &str, decision: &str) {
        *self.admissions.entry((pool.into(), decision.into())).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative() {
        let mut h = WaitHistogram::default();
        h.observe(0.02);
        h.observe(2.0);
        assert_eq!(h.buckets[0], 0);
        assert_eq!(h.buckets[1], 1);
        assert_eq!(h.buckets[5], 2);
        assert_eq!((h.count, h.sum), (2, 2.02));
    }
}

/// The room a host has for more jobs, as its own admission counts it: what
/// a cluster member offers a claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Room {
    /// Bytes free for jobs above the reserve, less what admitted jobs hold
    /// (`None`: the host could not be read).
    pub memory: Option<u64>,
    /// Tasks free above the reserve, less what admitted jobs hold.
    pub tasks: Option<u64>,
    /// Free run slots per pool: its limit less running and queued jobs.
    pub pools: BTreeMap<String, u64>,
    /// The engine is draining or stopping: claim nothing.
    pub draining: bool,
}
