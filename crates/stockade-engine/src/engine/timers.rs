//! Job timers in one ordered set, so finding the next deadline and the due
//! ones costs O(log n) instead of a scan over every job on every wake-up
//! (a queue of 30,000 made each submission pay for 30,000 checks).
//!
//! Entries are never removed when they stop applying (a job started, was
//! cancelled, was requeued): when one comes due it is checked against the
//! job's state and dropped if stale.

use std::collections::BTreeSet;
use stockade_proto::JobId;
use tokio::time::Instant;

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum JobTimer {
    /// A retry's backoff ends: the job may be admitted again.
    Retry,
    /// A run reaches its `timeout`.
    Timeout,
    /// A queued job reaches its pool's `queue_timeout`.
    Expire,
}

#[derive(Debug, Default)]
pub(super) struct Timers {
    set: BTreeSet<(Instant, JobTimer, JobId)>,
}

impl Timers {
    pub fn arm(&mut self, at: Instant, timer: JobTimer, job: JobId) {
        self.set.insert((at, timer, job));
    }

    pub fn next(&self) -> Option<Instant> {
        self.set.first().map(|(at, _, _)| *at)
    }

    /// Remove and return every timer due at `now`.
    pub fn due(&mut self, now: Instant) -> Vec<(Instant, JobTimer, JobId)> {
        let mut due = Vec::new();
        while let Some(first) = self.set.first().copied() {
            if first.0 > now {
                break;
            }
            self.set.pop_first();
            due.push(first);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_pops_only_what_is_due_in_order() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.arm(t0 + Duration::from_secs(3), JobTimer::Expire, JobId(1));
        timers.arm(t0 + Duration::from_secs(1), JobTimer::Timeout, JobId(2));
        timers.arm(t0 + Duration::from_secs(2), JobTimer::Retry, JobId(3));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        let due = timers.due(t0 + Duration::from_secs(2));
        assert_eq!(due.iter().map(|d| d.2).collect::<Vec<_>>(), vec![JobId(2), JobId(3)]);
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(3)));
    }
}
