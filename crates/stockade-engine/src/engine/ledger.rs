//! [`Ledger`]: what admitted jobs hold of the host between two host samples.
//!
//! A host sample says what is free *as of when it was taken*; it already
//! reflects every run that was running (and had settled) by then. Runs
//! admitted since are not in it yet, so each admission holds its request in
//! the ledger until a sample that reflects it arrives:
//!
//! ```text
//!   free = last sample − Σ request of every hold the sample does not reflect
//! ```
//!
//! - a hold is made at admission and restarted when the run's process starts;
//! - a sample taken at least [`SETTLE`] after a hold began reflects that run:
//!   the hold is dropped, the sample counts the run by what it really uses
//!   (never both);
//! - a run that ends while still held gives its request back at once (a
//!   herd of short jobs never waits for a sample to see the room again);
//! - a run that ends after a sample reflected it frees what it used, which
//!   the next sample shows (at most one sample period later).
//!
//! A run younger than [`SETTLE`] at a sample is counted by its request and
//! not by what the sample saw of it: its first second of usage may be counted
//! on top of its request, never left out. The ledger is pure: it is told the
//! time.

use std::collections::HashMap;
use std::time::Duration;
use stockade_host::{AgentNeed, Headroom, HoldReason, admits};
use stockade_proto::JobId;
use tokio::time::Instant;

/// How long a run must have lived before a host sample is trusted to show
/// its usage (a process that just forked has not faulted its memory in).
pub const SETTLE: Duration = Duration::from_secs(1);

/// What one admitted job holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hold {
    memory: u64,
    tasks: u64,
    since: Instant,
}

/// Outstanding holds against the last host sample.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    sample: Option<Headroom>,
    holds: HashMap<JobId, Hold>,
    memory_held: u64,
    tasks_held: u64,
}

impl Ledger {
    /// A new host reading, taken at `now`: holds it reflects are dropped.
    pub fn on_sample(&mut self, now: Instant, headroom: Option<Headroom>) {
        self.sample = headroom;
        let (memory_held, tasks_held) = (&mut self.memory_held, &mut self.tasks_held);
        self.holds.retain(|_, hold| {
            let reflected = now.saturating_duration_since(hold.since) >= SETTLE;
            if reflected {
                *memory_held -= hold.memory;
                *tasks_held -= hold.tasks;
            }
            !reflected
        });
    }

    /// What is free now: the last sample minus what is held since
    /// (`None` before the first sample, or when the host could not be read).
    pub fn free(&self) -> Option<Headroom> {
        let mut free = self.sample?;
        free.memory = free.memory.map(|m| m.saturating_sub(self.memory_held));
        free.tasks = free.tasks.map(|t| t.saturating_sub(self.tasks_held));
        Some(free)
    }

    /// Admit `job` if `need` fits what is free, and hold its request.
    pub fn take(&mut self, job: JobId, need: &AgentNeed, now: Instant) -> Result<(), HoldReason> {
        if let Some(free) = self.free() {
            admits(&free, need)?;
        }
        self.release(job);
        let hold = Hold {
            memory: need.memory_need().map_or(0, |a| a.value),
            tasks: need.tasks_need().map_or(0, |a| a.value),
            since: now,
        };
        self.memory_held += hold.memory;
        self.tasks_held += hold.tasks;
        self.holds.insert(job, hold);
        Ok(())
    }

    /// The job's process started at `now`: samples from before it do not
    /// show it, however long the launch took.
    pub fn started(&mut self, job: JobId, now: Instant) {
        if let Some(hold) = self.holds.get_mut(&job) {
            hold.since = now;
        }
    }

    /// The job's run ended (or never launched): give back what it holds.
    pub fn release(&mut self, job: JobId) {
        if let Some(hold) = self.holds.remove(&job) {
            self.memory_held -= hold.memory;
            self.tasks_held -= hold.tasks;
        }
    }

    /// How many holds are outstanding (for tests and status).
    #[cfg(test)]
    pub fn outstanding(&self) -> usize {
        self.holds.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_host::{Reserve, TaskCeiling};
    use stockade_proto::{Limits, UnitKind};

    const MIB: u64 = 1 << 20;

    fn room(memory: u64, tasks: u64) -> Option<Headroom> {
        Some(Headroom {
            memory: Some(memory),
            tasks: Some(tasks),
            task_ceiling: Some(TaskCeiling::PidMax),
            files: None,
            reserve: Reserve::default(),
        })
    }

    fn need(memory: u64, pids: u64) -> AgentNeed {
        let limits = Limits { memory: Some(memory), pids: Some(pids), ..Limits::default() };
        AgentNeed::declared("t", UnitKind::Job, &limits)
    }

    fn free(ledger: &Ledger) -> (Option<u64>, Option<u64>) {
        let f = ledger.free().unwrap();
        (f.memory, f.tasks)
    }

    /// Each row: what happens, then what is free afterwards.
    enum Step {
        Sample(u64, u64),
        Take(u64, u64, u64),
        Refused(u64, u64, u64),
        Started(u64),
        Release(u64),
        Wait(u64),
    }

    #[tokio::test(start_paused = true)]
    async fn holds_are_returned_at_once_and_dropped_once_a_sample_reflects_them() {
        use Step::*;
        let table: &[(Step, (u64, u64))] = &[
            (Sample(1000, 100), (1000, 100)),
            // Two admissions between samples spend the same sample once each.
            (Take(1, 400, 10), (600, 90)),
            (Take(2, 400, 10), (200, 80)),
            (Refused(3, 400, 10), (200, 80)),
            // A run that ends before any sample saw it gives everything back.
            (Release(1), (600, 90)),
            (Take(3, 400, 10), (200, 80)),
            // A sample taken too soon after the runs began: still held, on
            // top of whatever the sample saw of them (never forgotten).
            (Wait(500), (200, 80)),
            (Sample(900, 95), (100, 75)),
            // A sample after they settled reflects them: dropped (never twice).
            (Wait(600), (100, 75)),
            (Sample(300, 80), (300, 80)),
            // Ending after a sample reflected it: nothing held to return; the
            // next sample shows the freed room.
            (Release(2), (300, 80)),
            (Sample(700, 90), (700, 90)),
            // The start of a slow launch restarts the hold's clock.
            (Take(4, 100, 5), (600, 85)),
            (Wait(900), (600, 85)),
            (Started(4), (600, 85)),
            (Wait(200), (600, 85)),
            (Sample(700, 90), (600, 85)),
            (Wait(900), (600, 85)),
            (Sample(650, 85), (650, 85)),
        ];
        let mut ledger = Ledger::default();
        for (i, (step, after)) in table.iter().enumerate() {
            let now = Instant::now();
            match *step {
                Sample(m, t) => ledger.on_sample(now, room(m * MIB, t)),
                Take(id, m, t) => ledger.take(JobId(id), &need(m * MIB, t), now).unwrap(),
                Refused(id, m, t) => {
                    let held = ledger.take(JobId(id), &need(m * MIB, t), now).unwrap_err();
                    assert!(matches!(held, HoldReason::Memory { .. }), "row {i}: {held:?}");
                }
                Started(id) => ledger.started(JobId(id), now),
                Release(id) => ledger.release(JobId(id)),
                Wait(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
            }
            assert_eq!(free(&ledger), (Some(after.0 * MIB), Some(after.1)), "row {i}");
        }
        assert_eq!(ledger.outstanding(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_sample_everything_is_admitted_and_still_held() {
        let mut ledger = Ledger::default();
        let now = Instant::now();
        ledger.take(JobId(1), &need(u64::MAX / 4, 10), now).unwrap();
        assert!(ledger.free().is_none());
        ledger.on_sample(now, room(1000 * MIB, 100));
        assert_eq!(free(&ledger), (Some(0), Some(90)), "the early admission still counts");
        ledger.take(JobId(1), &need(MIB, 1), now).unwrap_err();
        ledger.release(JobId(1));
        assert_eq!(free(&ledger), (Some(1000 * MIB), Some(100)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_thousand_short_jobs_never_throttle_between_two_samples() {
        let mut ledger = Ledger::default();
        ledger.on_sample(Instant::now(), room(2048 * MIB, 2000));
        for id in 0..1000 {
            ledger.take(JobId(id), &need(2048 * MIB, 1000), Instant::now()).unwrap();
            ledger.release(JobId(id));
        }
        assert_eq!(free(&ledger), (Some(2048 * MIB), Some(2000)));
    }
}
