//! [`Reading`]: one run's usage as percentages of its box's limits.
//!
//! Memory and tasks are instantaneous counters; cpu is a rate, so it needs the
//! previous sample of the same run ([`CpuMark`]) and is unknown on a run's
//! first sample.

use std::fmt;
use std::time::Instant;
use stockade_linux::cpu::{CpuSample, percent_of_quota};
use stockade_proto::{Limits, RunId, Usage};

/// What a percentage is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Resource {
    /// CPU time against the `cpus` quota.
    Cpu,
    /// `memory_current` against `memory`.
    Memory,
    /// Tasks against `pids`.
    Pids,
}

impl Resource {
    pub(crate) const ALL: [Resource; 3] = [Resource::Cpu, Resource::Memory, Resource::Pids];
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::Pids => "tasks",
        })
    }
}

/// The cpu counter of one run at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CpuMark {
    /// The run it belongs to: a new run restarts the counter.
    pub run: RunId,
    /// `cpu_usec` then.
    pub cpu_usec: u64,
    /// When it was read.
    pub at: Instant,
}

/// One run's usage in percent of its limits; `None` where there is no limit
/// or the counter could not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Reading {
    /// CPU in percent of the `cpus` quota over the last interval.
    pub cpu: Option<f64>,
    /// Memory in percent of `memory`.
    pub memory: Option<f64>,
    /// Tasks in percent of `pids`.
    pub pids: Option<f64>,
}

impl Reading {
    /// Percentages of `usage` against `limits`; `now` is the cpu counter as
    /// read at this sample, `before` the same run's previous mark.
    pub(crate) fn of(
        usage: &Usage,
        limits: &Limits,
        now: Option<CpuMark>,
        before: Option<CpuMark>,
    ) -> Reading {
        let cpu = match (now, before, limits.cpus) {
            (Some(now), Some(before), Some(cpus)) if now.run == before.run => {
                CpuSample::new(now.cpu_usec, now.at)
                    .percent_since(&CpuSample::new(before.cpu_usec, before.at))
                    .and_then(|percent| percent_of_quota(percent, cpus))
            }
            _ => None,
        };
        Reading {
            cpu,
            memory: percent(usage.memory_current, limits.memory),
            pids: percent(usage.pids_current, limits.pids),
        }
    }

    /// The percentage of `resource`.
    pub(crate) fn get(&self, resource: Resource) -> Option<f64> {
        match resource {
            Resource::Cpu => self.cpu,
            Resource::Memory => self.memory,
            Resource::Pids => self.pids,
        }
    }
}

fn percent(value: Option<u64>, limit: Option<u64>) -> Option<f64> {
    match (value, limit) {
        (Some(value), Some(limit)) if limit > 0 => Some(100.0 * value as f64 / limit as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn memory_and_tasks_are_shares_of_their_limits() {
        let usage =
            Usage { memory_current: Some(96 << 20), pids_current: Some(5), ..Usage::default() };
        let limits = Limits { memory: Some(120 << 20), pids: Some(20), ..Limits::default() };
        let r = Reading::of(&usage, &limits, None, None);
        assert_eq!((r.memory, r.pids, r.cpu), (Some(80.0), Some(25.0), None));
        let unlimited = Reading::of(&usage, &Limits::default(), None, None);
        assert_eq!(unlimited, Reading::default(), "no limit, no percentage");
    }

    #[test]
    fn cpu_is_the_rate_over_the_interval_against_the_quota() {
        let run = RunId(7);
        let t0 = Instant::now();
        let before = CpuMark { run, cpu_usec: 1_000_000, at: t0 };
        let now = CpuMark { run, cpu_usec: 1_750_000, at: t0 + Duration::from_secs(1) };
        let limits = Limits { cpus: Some(0.5), ..Limits::default() };
        let r = Reading::of(&Usage::default(), &limits, Some(now), Some(before));
        assert_eq!(r.cpu, Some(150.0), "0.75 s of cpu in 1 s against half a cpu");
        let other_run = CpuMark { run: RunId(8), ..before };
        assert_eq!(Reading::of(&Usage::default(), &limits, Some(now), Some(other_run)).cpu, None);
    }
}
