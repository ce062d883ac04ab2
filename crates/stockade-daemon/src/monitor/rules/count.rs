//! [`Counts`]: when each counted signal's events happened, kept as long as
//! the longest window of any rule needs them.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};
use stockade_spec::AlertSignal;

/// Event times per counted signal.
#[derive(Debug)]
pub(super) struct Counts {
    keep: Duration,
    seen: BTreeMap<String, VecDeque<Instant>>,
}

impl Counts {
    /// Counts that forget events older than `keep`.
    pub(super) fn new(keep: Duration) -> Counts {
        Counts { keep, seen: BTreeMap::new() }
    }

    /// One event of `signal` at `now`.
    pub(super) fn add(&mut self, signal: AlertSignal, now: Instant) {
        self.seen.entry(signal.to_string()).or_default().push_back(now);
    }

    /// Forget what no window reaches any more.
    pub(super) fn expire(&mut self, now: Instant) {
        for times in self.seen.values_mut() {
            while times.front().is_some_and(|t| now.duration_since(*t) > self.keep) {
                times.pop_front();
            }
        }
        self.seen.retain(|_, times| !times.is_empty());
    }

    /// Keep events for `keep` from now on (the longest window of the rules
    /// after a reload).
    pub(super) fn keep_for(&mut self, keep: Duration) {
        self.keep = keep;
    }

    /// Events of `signal` in the last `window` before `now`, none before
    /// `since` (when the rule asking started watching).
    pub(super) fn within(
        &self,
        signal: &AlertSignal,
        window: Duration,
        since: Instant,
        now: Instant,
    ) -> usize {
        self.seen.get(&signal.to_string()).map_or(0, |times| {
            times
                .iter()
                .rev()
                .take_while(|t| now.duration_since(**t) <= window && **t >= since)
                .count()
        })
    }
}
