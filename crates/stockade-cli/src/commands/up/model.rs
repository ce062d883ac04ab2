//! What the `up` screen shows, as data: the replicas (state from events the
//! moment they arrive, usage from the latest sample), the live jobs, the
//! latest events and the latest lines of the services' output. Only
//! [`UpModel`]'s methods change it; `view.rs` draws it.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;
use stockade_linux::CpuSample;
use stockade_proto::{Event, EventKind, JobState, JobView, ReplicaView, StatusView, UnixMillis};

/// How many events are kept.
const EVENTS: usize = 50;
/// How many log lines are kept.
const LOG_LINES: usize = 200;

/// One replica row.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaRow {
    /// `name[r]`.
    pub name: String,
    /// Its state word, with the reason when there is one.
    pub state: String,
    /// Main pid.
    pub pid: Option<u32>,
    /// Restarts so far.
    pub restarts: u32,
    /// Memory now and its limit.
    pub memory: Option<u64>,
    /// The memory limit.
    pub memory_limit: Option<u64>,
    /// CPU percent over the last two samples.
    pub cpu: Option<f64>,
    /// When its run started.
    pub started_at: Option<UnixMillis>,
    /// The previous CPU reading, for the CPU % (one formula: `stockade_linux::CpuSample`).
    cpu_before: Option<CpuSample>,
}

/// One job row.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    /// The id.
    pub id: u64,
    /// Its template.
    pub template: String,
    /// Its state word.
    pub state: JobState,
    /// Why it waits or ended.
    pub why: String,
    /// When it started (or was submitted).
    pub since: UnixMillis,
}

/// The whole screen's data.
#[derive(Debug, Clone, Default)]
pub struct UpModel {
    /// The title line's facts.
    pub title: String,
    /// Backend warnings.
    pub warnings: Vec<String>,
    /// Replicas in spec order.
    pub replicas: Vec<ReplicaRow>,
    /// Live jobs, newest first.
    pub jobs: Vec<JobRow>,
    /// How many live jobs there are in all.
    pub jobs_total: u64,
    /// Busy pools, one line each.
    pub pools: Vec<String>,
    /// The latest events, newest last (already one line each).
    pub events: VecDeque<String>,
    /// The latest output lines, `name[r] | text`, newest last.
    pub logs: VecDeque<String>,
    /// The clock the view computes ages against.
    pub now: UnixMillis,
    /// Events the broadcast dropped because the view fell behind.
    pub missed: u64,
}

impl UpModel {
    /// A model with its title line.
    pub fn new(title: String, warnings: Vec<String>) -> UpModel {
        UpModel { title, warnings, ..UpModel::default() }
    }

    /// A usage sample: every replica's state, usage and limits; the pools.
    pub fn apply_status(&mut self, status: &StatusView, now: UnixMillis) {
        self.now = now;
        let sampled = Instant::now();
        let before: BTreeMap<String, Option<CpuSample>> =
            self.replicas.iter().map(|r| (r.name.clone(), r.cpu_before)).collect();
        self.replicas = status
            .services
            .iter()
            .map(|r| {
                let name = format!("{}[{}]", r.service, r.replica);
                let usage = r.usage.clone().unwrap_or_default();
                let previous = before.get(&name).copied().flatten();
                let cpu = match (usage.cpu_usec, previous) {
                    (Some(used), Some(was)) => CpuSample::new(used, sampled).percent_since(&was),
                    _ => None,
                };
                ReplicaRow {
                    name,
                    state: state_text(r),
                    pid: r.pid,
                    restarts: r.restarts,
                    memory: usage.memory_current,
                    memory_limit: r.limits.memory,
                    cpu,
                    started_at: r.started_at,
                    cpu_before: usage.cpu_usec.map(|u| CpuSample::new(u, sampled)),
                }
            })
            .collect();
        self.pools = status
            .pools
            .iter()
            .filter(|p| p.running + p.queued > 0)
            .map(|p| {
                format!(
                    "{}: {}/{} running, {} queued",
                    p.name, p.running, p.max_concurrency, p.queued
                )
            })
            .collect();
    }

    /// The live jobs (a sample), and how many there are.
    pub fn apply_jobs(&mut self, jobs: &[JobView], total: u64) {
        self.jobs_total = total;
        self.jobs = jobs
            .iter()
            .map(|j| JobRow {
                id: j.id.0,
                template: j.template.clone(),
                state: j.state,
                why: j
                    .waiting
                    .clone()
                    .or_else(|| j.reason.clone())
                    .or_else(|| j.cause.as_ref().map(|c| c.to_string()))
                    .unwrap_or_default(),
                since: j.started_at.unwrap_or(j.submitted_at),
            })
            .collect();
    }

    /// An event from the broadcast: states change at once, and it joins the list.
    pub fn apply_event(&mut self, event: &Event, line: String) {
        self.now = self.now.max(event.at);
        match &event.kind {
            EventKind::ServiceState { replica, state, reason } => {
                let name = format!("{}[{replica}]", event.unit);
                if let Some(row) = self.replicas.iter_mut().find(|r| r.name == name) {
                    row.state = match reason {
                        Some(why) => format!("{state} ({why})"),
                        None => state.to_string(),
                    };
                }
            }
            EventKind::JobState { job, state, reason } => {
                if state.is_terminal() {
                    self.jobs.retain(|j| j.id != job.0);
                } else if let Some(row) = self.jobs.iter_mut().find(|j| j.id == job.0) {
                    row.state = *state;
                    row.why = reason.clone().unwrap_or_default();
                } else {
                    self.jobs.insert(
                        0,
                        JobRow {
                            id: job.0,
                            template: event.unit.clone(),
                            state: *state,
                            why: reason.clone().unwrap_or_default(),
                            since: event.at,
                        },
                    );
                    self.jobs_total += 1;
                }
            }
            _ => {}
        }
        push(&mut self.events, line, EVENTS);
    }

    /// Lines of output from a replica's log.
    pub fn push_log(&mut self, name: &str, text: &str) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            push(&mut self.logs, format!("{name} | {line}"), LOG_LINES);
        }
    }
}

fn state_text(r: &ReplicaView) -> String {
    match &r.reason {
        Some(reason) => format!("{} ({reason})", r.state),
        None => r.state.to_string(),
    }
}

fn push(list: &mut VecDeque<String>, line: String, cap: usize) {
    if list.len() == cap {
        list.pop_front();
    }
    list.push_back(line);
}
