//! [`Requests`]: what one run of a job template is counted for at admission.
//!
//! Kubernetes schedules by requests and enforces limits; so does stockade.
//! The box enforces the template's limits (`memory`, `pids`), but admission
//! counts a run by its *request*: the highest memory and task peaks of the
//! template's recent runs ([`WINDOW`], the same window and rule as the
//! doctor's plan, seeded from the store at start), never above the limit.
//! A template with no history is counted by its limit, as Kubernetes defaults
//! a missing request to the limit: one run later it is counted by what it
//! really takes. So generous default caps (2 GiB, 1,000 pids) do not
//! serialize a herd of small jobs, and an unknown job is never admitted
//! blind.

use std::collections::{HashMap, VecDeque};
use stockade_host::AgentNeed;
use stockade_proto::{Evidence, Limits, UnitKind};

/// How many of a template's newest runs its peaks are taken from (the
/// store's `unit_peaks` window, which the doctor's plan uses).
pub const WINDOW: usize = 100;

/// The peaks of one template's recent runs.
#[derive(Debug, Default)]
struct Peaks {
    /// (memory bytes, tasks) of each recent run, newest last.
    runs: VecDeque<(Option<u64>, Option<u64>)>,
    memory: Option<u64>,
    tasks: Option<u64>,
}

impl Peaks {
    fn push(&mut self, memory: Option<u64>, tasks: Option<u64>) {
        if memory.is_none() && tasks.is_none() {
            return;
        }
        if self.runs.len() == WINDOW {
            self.runs.pop_front();
        }
        self.runs.push_back((memory, tasks));
        self.memory = self.runs.iter().filter_map(|r| r.0).max();
        self.tasks = self.runs.iter().filter_map(|r| r.1).max();
    }
}

/// Learned requests, by job template.
#[derive(Debug, Default)]
pub(super) struct Requests {
    templates: HashMap<String, Peaks>,
}

impl Requests {
    /// Start from what the store remembers of `template` (its peaks over the
    /// newest [`WINDOW`] runs, counted as one run of the window).
    pub fn seed(&mut self, template: &str, memory: Option<u64>, tasks: Option<u64>) {
        self.templates.entry(template.to_string()).or_default().push(memory, tasks);
    }

    /// A run of `template` ended with `evidence`: learn its peaks.
    pub fn observe(&mut self, template: &str, evidence: &Evidence) {
        // A run whose box was never read says nothing about what it takes.
        let (memory, tasks) = (evidence.memory_peak, evidence.pids_peak.map(|p| p.max(1)));
        if memory.is_some() || tasks.is_some() {
            self.templates.entry(template.to_string()).or_default().push(memory, tasks);
        }
    }

    /// What one run of `template` in `pool` is counted for: its request
    /// (learned peaks) under its enforced `limits`.
    pub fn need(&self, template: &str, pool: &str, limits: &Limits) -> AgentNeed {
        let peaks = self.templates.get(template);
        AgentNeed {
            pool: Some(pool.to_string()),
            observed_peak_memory: peaks.and_then(|p| p.memory),
            observed_peak_pids: peaks.and_then(|p| p.tasks),
            ..AgentNeed::declared(template, UnitKind::Job, limits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn limits() -> Limits {
        Limits { memory: Some(2048 * MIB), pids: Some(1000), ..Limits::default() }
    }

    fn ended(memory: Option<u64>, pids: Option<u64>) -> Evidence {
        Evidence { memory_peak: memory, pids_peak: pids, ..Evidence::default() }
    }

    fn counted(requests: &Requests, template: &str) -> (Option<u64>, Option<u64>) {
        let need = requests.need(template, "p", &limits());
        (need.memory_need().map(|a| a.value), need.tasks_need().map(|a| a.value))
    }

    #[test]
    fn a_template_is_counted_by_its_limit_until_it_has_run_then_by_its_peaks() {
        let mut r = Requests::default();
        assert_eq!(counted(&r, "t"), (Some(2048 * MIB), Some(1000)), "no history: the limit");
        r.observe("t", &ended(None, None));
        assert_eq!(counted(&r, "t"), (Some(2048 * MIB), Some(1000)), "no readings: no lesson");
        r.observe("t", &ended(Some(3 * MIB), Some(0)));
        assert_eq!(counted(&r, "t"), (Some(3 * MIB), Some(1)), "a run takes at least one task");
        r.observe("t", &ended(Some(MIB), Some(4)));
        assert_eq!(counted(&r, "t"), (Some(3 * MIB), Some(4)), "the highest recent peak");
        r.observe("t", &ended(Some(8192 * MIB), None));
        assert_eq!(counted(&r, "t"), (Some(2048 * MIB), Some(4)), "never above the limit");
        assert_eq!(counted(&r, "other"), (Some(2048 * MIB), Some(1000)), "per template");
    }

    #[test]
    fn old_peaks_leave_the_window() {
        let mut r = Requests::default();
        r.seed("t", Some(500 * MIB), Some(50));
        for _ in 0..WINDOW - 1 {
            r.observe("t", &ended(Some(MIB), Some(1)));
        }
        assert_eq!(
            counted(&r, "t"),
            (Some(500 * MIB), Some(50)),
            "the seed is still in the window"
        );
        r.observe("t", &ended(Some(MIB), Some(1)));
        assert_eq!(counted(&r, "t"), (Some(MIB), Some(1)));
    }
}
