//! CPU % from two samples of a run's cumulative CPU counter (microseconds,
//! the cgroup's `cpu.stat usage_usec` / `cpuacct.usage`), written once so
//! every view of the same run agrees.
//!
//! The unit is **percent of one CPU over a monotonic window**: 100 % is one
//! core busy for the whole window, 250 % two and a half; the window comes
//! from [`Instant`]s, never the wall clock (which jumps).
//! [`percent_of_quota`] turns it into a share of a `cpus` quota.

use std::time::Instant;

/// One reading of a CPU counter and when it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSample {
    /// CPU time used so far, microseconds.
    pub usec: u64,
    /// When it was read.
    pub at: Instant,
}

impl CpuSample {
    /// A reading of `usec` taken at `at`.
    pub fn new(usec: u64, at: Instant) -> CpuSample {
        CpuSample { usec, at }
    }

    /// Percent of one CPU used between `before` and this sample. `None`
    /// when there is no window (same instant or earlier) or the counter went
    /// down (a new run in the same slot: no rate yet).
    pub fn percent_since(&self, before: &CpuSample) -> Option<f64> {
        let window = self.at.checked_duration_since(before.at)?.as_micros() as f64;
        let used = self.usec.checked_sub(before.usec)? as f64;
        (window > 0.0).then(|| used * 100.0 / window)
    }
}

/// `percent_of_one_cpu` as a share of a quota of `cpus` CPUs (100 % = the
/// whole quota); `None` for a missing or non-positive quota.
pub fn percent_of_quota(percent_of_one_cpu: f64, cpus: f64) -> Option<f64> {
    (cpus > 0.0).then(|| percent_of_one_cpu / cpus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_busy_core_is_100_percent() {
        let t0 = Instant::now();
        let before = CpuSample::new(1_000_000, t0);
        let now = CpuSample::new(1_750_000, t0 + Duration::from_secs(1));
        assert_eq!(now.percent_since(&before), Some(75.0));
        let two_cores = CpuSample::new(5_000_000, t0 + Duration::from_secs(2));
        assert_eq!(two_cores.percent_since(&before), Some(200.0));
        assert_eq!(percent_of_quota(75.0, 0.5), Some(150.0));
        assert_eq!(percent_of_quota(200.0, 4.0), Some(50.0));
        assert_eq!(percent_of_quota(75.0, 0.0), None);
    }

    #[test]
    fn no_window_or_a_smaller_counter_is_no_rate() {
        let t0 = Instant::now();
        let before = CpuSample::new(1_000, t0);
        assert_eq!(CpuSample::new(2_000, t0).percent_since(&before), None);
        let later = t0 + Duration::from_millis(10);
        assert_eq!(CpuSample::new(500, later).percent_since(&before), None);
        assert_eq!(before.percent_since(&CpuSample::new(0, later)), None);
    }
}
