//! Restart timing: exponential backoff with jitter, and the start-limit window.

use std::collections::VecDeque;
use std::time::Duration;
use stockade_spec::{Backoff, StartLimit};
use tokio::time::Instant;

/// The delay before restart number `attempt` (1 = the first restart):
/// `initial * factor^(attempt-1)`, capped at `max`, then spread by ±`jitter`
/// (a fraction) using `unit_random` in `[0, 1)`. Jitter keeps 22 replicas that
/// die together from restarting in lockstep.
pub fn delay(policy: &Backoff, attempt: u32, unit_random: f64) -> Duration {
    let exp = policy.factor.max(1.0).powi(attempt.saturating_sub(1).min(64) as i32);
    let base = (policy.initial.as_secs_f64() * exp).min(policy.max.as_secs_f64());
    let spread = policy.jitter.clamp(0.0, 1.0) * (2.0 * unit_random.clamp(0.0, 1.0) - 1.0);
    Duration::from_secs_f64((base * (1.0 + spread)).max(0.0))
}

/// Remembers recent starts to enforce `start_limit`: more than `burst` starts
/// within `interval` means the service gives up.
#[derive(Debug, Clone, Default)]
pub struct StartWindow {
    starts: VecDeque<Instant>,
}

impl StartWindow {
    /// Record a start at `now`.
    pub fn record(&mut self, now: Instant, limit: &StartLimit) {
        self.starts.push_back(now);
        self.trim(now, limit);
    }

    /// True when another start now would exceed the limit.
    pub fn exhausted(&mut self, now: Instant, limit: &StartLimit) -> bool {
        self.trim(now, limit);
        self.starts.len() >= limit.burst.max(1) as usize
    }

    /// Forget every start (after `stockade restart` clears `gave_up`).
    pub fn clear(&mut self) {
        self.starts.clear();
    }

    fn trim(&mut self, now: Instant, limit: &StartLimit) {
        while let Some(first) = self.starts.front() {
            if now.duration_since(*first) > limit.interval {
                self.starts.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.2,
        }
    }

    #[test]
    fn delay_doubles_and_caps() {
        let p = Backoff { jitter: 0.0, ..policy() };
        assert_eq!(delay(&p, 1, 0.5), Duration::from_millis(100));
        assert_eq!(delay(&p, 2, 0.5), Duration::from_millis(200));
        assert_eq!(delay(&p, 4, 0.5), Duration::from_millis(800));
        assert_eq!(delay(&p, 30, 0.5), Duration::from_secs(30));
        assert_eq!(delay(&p, u32::MAX, 0.5), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let p = policy();
        let low = delay(&p, 1, 0.0);
        let high = delay(&p, 1, 0.999_999);
        assert!(low >= Duration::from_millis(80) && low < Duration::from_millis(81), "{low:?}");
        assert!(
            high > Duration::from_millis(119) && high <= Duration::from_millis(120),
            "{high:?}"
        );
    }

    #[test]
    fn start_window_counts_only_recent_starts() {
        let limit = StartLimit { burst: 3, interval: Duration::from_secs(10) };
        let t0 = Instant::now();
        let mut w = StartWindow::default();
        w.record(t0, &limit);
        w.record(t0 + Duration::from_secs(1), &limit);
        assert!(!w.exhausted(t0 + Duration::from_secs(2), &limit));
        w.record(t0 + Duration::from_secs(2), &limit);
        assert!(w.exhausted(t0 + Duration::from_secs(3), &limit));
        // The first start falls out of the window after 10 s.
        assert!(!w.exhausted(t0 + Duration::from_secs(11), &limit));
        w.clear();
        assert!(!w.exhausted(t0 + Duration::from_secs(11), &limit));
    }
}
