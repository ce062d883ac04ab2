//! What `top` shows, as data: one [`Row`] per replica or running job, cpu
//! rates from consecutive samples, the sort order and the keys that change
//! it, and the latest event lines.

use super::feed::Sample;
use crate::render::event_line;
use clap::ValueEnum;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;
use stockade_linux::CpuSample;
use stockade_proto::{Event, JobView, StatusView, now_millis};

/// How many past events the pane starts with, and how many it keeps.
pub(super) const EVENTS_KEPT: usize = 20;

/// What the rows are ordered by; usage columns sort the biggest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    /// CPU % (key `c`).
    Cpu,
    /// Memory in bytes (key `m`).
    Memory,
    /// Tasks (key `p`).
    Pids,
    /// Name, then replica or job id (key `n`).
    Name,
    /// Restarts (key `r`).
    Restarts,
}

impl SortKey {
    pub(super) fn label(self) -> &'static str {
        match self {
            SortKey::Cpu => "cpu",
            SortKey::Memory => "memory",
            SortKey::Pids => "pids",
            SortKey::Name => "name",
            SortKey::Restarts => "restarts",
        }
    }

    fn from_key(c: char) -> Option<SortKey> {
        match c {
            'c' => Some(SortKey::Cpu),
            'm' => Some(SortKey::Memory),
            'p' => Some(SortKey::Pids),
            'n' => Some(SortKey::Name),
            'r' => Some(SortKey::Restarts),
            _ => None,
        }
    }
}

/// Whether the view goes on.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Quit,
}

/// What a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Subject {
    /// Replica N of the row's service.
    Replica(u32),
    /// A running job of the row's template.
    Job(u64),
}

/// One line of the table: a service replica or a running job.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Row {
    /// `web[0]` or `job:12 (hello)`.
    pub(super) name: String,
    /// The service or job template.
    pub(super) unit: String,
    pub(super) subject: Subject,
    /// The state's name (`running`).
    pub(super) state: String,
    /// Why it is in that state, when the daemon says.
    pub(super) reason: Option<String>,
    pub(super) pid: Option<u32>,
    /// Percent of one CPU over the last sample window.
    pub(super) cpu: Option<f64>,
    pub(super) cpu_limit: Option<f64>,
    pub(super) memory: Option<u64>,
    pub(super) memory_limit: Option<u64>,
    pub(super) pids: Option<u64>,
    pub(super) pids_limit: Option<u64>,
    pub(super) restarts: Option<u32>,
    pub(super) uptime_ms: Option<u64>,
}

/// Everything the view shows.
pub(super) struct Model {
    pub(super) sort: SortKey,
    pub(super) rows: Vec<Row>,
    /// `stockade top · spec · daemon pid · boxes`.
    pub(super) title: String,
    /// The last refresh or event-stream failure, until the next success.
    pub(super) error: Option<String>,
    pub(super) events: VecDeque<String>,
    /// The previous cpu sample of each row, by name.
    cpu_seen: HashMap<String, (u64, Instant)>,
    /// From the latest sample.
    daemon: Option<Daemon>,
}

impl Row {
    /// The state and, when known, why: `gave_up (start limit hit)`.
    pub(super) fn state_text(&self) -> String {
        match &self.reason {
            Some(reason) => format!("{} ({reason})", self.state),
            None => self.state.clone(),
        }
    }

    /// Unit, then replica or job id: the order by name.
    fn order(&self) -> (&str, u64) {
        let n = match self.subject {
            Subject::Replica(r) => u64::from(r),
            Subject::Job(id) => id,
        };
        (&self.unit, n)
    }
}

/// Which daemon the rows are from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Daemon {
    pub(super) spec: String,
    pub(super) pid: u32,
    pub(super) sandbox: String,
}

impl Model {
    pub(super) fn new(sort: SortKey) -> Model {
        Model {
            sort,
            rows: Vec::new(),
            title: "stockade top".into(),
            error: None,
            events: VecDeque::new(),
            cpu_seen: HashMap::new(),
            daemon: None,
        }
    }

    pub(super) fn apply(&mut self, sample: &Sample) {
        self.update(&sample.status, &sample.jobs, sample.at);
        self.error = None;
    }

    pub(super) fn update(&mut self, status: &StatusView, jobs: &[JobView], at: Instant) {
        let now = now_millis();
        self.title = format!(
            "stockade top · {} · daemon pid {} · boxes: {}",
            status.spec, status.pid, status.sandbox
        );
        self.daemon = Some(Daemon {
            spec: status.spec.clone(),
            pid: status.pid,
            sandbox: status.sandbox.clone(),
        });
        let mut rows = Vec::with_capacity(status.services.len() + jobs.len());
        let mut seen = HashMap::new();
        let mut cpu = |name: &str, usage: &stockade_proto::Usage| {
            usage.cpu_usec.and_then(|used| {
                seen.insert(name.to_owned(), (used, at));
                let (before, then) = self.cpu_seen.get(name)?;
                // A smaller counter is a new run in the same slot: no rate yet.
                CpuSample::new(used, at).percent_since(&CpuSample::new(*before, *then))
            })
        };
        for r in &status.services {
            let name = format!("{}[{}]", r.service, r.replica);
            let usage = r.usage.clone().unwrap_or_default();
            rows.push(Row {
                unit: r.service.clone(),
                subject: Subject::Replica(r.replica),
                state: r.state.to_string(),
                reason: r.reason.clone(),
                pid: r.pid,
                cpu: cpu(&name, &usage),
                cpu_limit: r.limits.cpus,
                memory: usage.memory_current,
                memory_limit: r.limits.memory,
                pids: usage.pids_current,
                pids_limit: r.limits.pids,
                restarts: Some(r.restarts),
                uptime_ms: r.started_at.map(|t| now.saturating_sub(t)),
                name,
            });
        }
        for j in jobs {
            let name = format!("job:{} ({})", j.id, j.template);
            let usage = j.usage.clone().unwrap_or_default();
            let limits = j.limits.clone().unwrap_or_default();
            rows.push(Row {
                unit: j.template.clone(),
                subject: Subject::Job(j.id.0),
                state: j.state.to_string(),
                reason: j.reason.clone(),
                pid: j.pid,
                cpu: cpu(&name, &usage),
                cpu_limit: limits.cpus,
                memory: usage.memory_current,
                memory_limit: limits.memory,
                pids: usage.pids_current,
                pids_limit: limits.pids,
                restarts: None,
                uptime_ms: j.started_at.map(|t| now.saturating_sub(t)),
                name,
            });
        }
        self.cpu_seen = seen;
        self.rows = rows;
        self.sort_rows();
    }

    fn sort_rows(&mut self) {
        fn desc<T: PartialOrd>(a: Option<T>, b: Option<T>) -> std::cmp::Ordering {
            use std::cmp::Ordering;
            // Unknown usage sorts last.
            match (a, b) {
                (Some(a), Some(b)) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        let key = self.sort;
        self.rows.sort_by(|a, b| {
            let first = match key {
                SortKey::Cpu => desc(a.cpu, b.cpu),
                SortKey::Memory => desc(a.memory, b.memory),
                SortKey::Pids => desc(a.pids, b.pids),
                SortKey::Restarts => desc(a.restarts, b.restarts),
                SortKey::Name => std::cmp::Ordering::Equal,
            };
            first.then_with(|| a.order().cmp(&b.order()))
        });
    }

    /// The daemon's spec, pid and box backend, as the title shows them.
    pub(super) fn daemon(&self) -> Option<&Daemon> {
        self.daemon.as_ref()
    }

    pub(super) fn push_event(&mut self, event: &Event) {
        if self.events.len() == EVENTS_KEPT {
            self.events.pop_front();
        }
        self.events.push_back(event_line(event));
    }

    pub(super) fn on_input(&mut self, input: &TermEvent) -> Flow {
        let TermEvent::Key(key) = input else { return Flow::Continue };
        if key.kind != KeyEventKind::Press {
            return Flow::Continue;
        }
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => Flow::Quit,
            // Raw mode turns Ctrl-C into a key instead of SIGINT.
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Flow::Quit,
            KeyCode::Char(c) => {
                if let Some(sort) = SortKey::from_key(c) {
                    self.sort = sort;
                    self.sort_rows();
                }
                Flow::Continue
            }
            _ => Flow::Continue,
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEvent;
    use std::time::Duration;
    use stockade_proto::{Limits, ReplicaView, ServiceState, Usage};

    pub(in crate::commands::top) fn replica(
        service: &str,
        replica: u32,
        usage: Usage,
        restarts: u32,
    ) -> ReplicaView {
        ReplicaView {
            service: service.into(),
            replica,
            state: ServiceState::Running,
            reason: None,
            run: None,
            pid: Some(100 + replica),
            restarts,
            started_at: Some(now_millis()),
            last_cause: None,
            usage: Some(usage),
            limits: Limits {
                memory: Some(100 << 20),
                pids: Some(10),
                cpus: Some(0.5),
                ..Limits::default()
            },
        }
    }

    pub(in crate::commands::top) fn status(services: Vec<ReplicaView>) -> StatusView {
        StatusView {
            pid: 1,
            started_at: 0,
            sandbox: "cgroup v1".into(),
            warnings: Vec::new(),
            spec: "stockade.toml".into(),
            services,
            scaled: Vec::new(),
            pools: Vec::new(),
            schedules: Vec::new(),
            spec_file: None,
        }
    }

    pub(in crate::commands::top) fn usage(cpu_usec: u64, memory: u64, pids: u64) -> Usage {
        Usage {
            cpu_usec: Some(cpu_usec),
            memory_current: Some(memory),
            pids_current: Some(pids),
            ..Usage::default()
        }
    }

    fn names(model: &Model) -> Vec<&str> {
        model.rows.iter().map(|r| r.name.as_str()).collect()
    }

    fn key(c: char) -> TermEvent {
        TermEvent::Key(KeyEvent::from(KeyCode::Char(c)))
    }

    #[test]
    fn cpu_percent_is_the_cpu_time_used_over_the_sample_window() {
        let mut model = Model::new(SortKey::Cpu);
        let t0 = Instant::now();
        model.update(&status(vec![replica("a", 0, usage(1_000_000, 0, 1), 0)]), &[], t0);
        assert_eq!(model.rows[0].cpu, None, "one sample gives no rate");
        let t1 = t0 + Duration::from_secs(2);
        model.update(&status(vec![replica("a", 0, usage(1_500_000, 0, 1), 0)]), &[], t1);
        let cpu = model.rows[0].cpu.expect("a rate");
        assert!((cpu - 25.0).abs() < 1e-9, "0.5 s of cpu in 2 s is 25%, got {cpu}");
        // A restarted run's counter starts again below the old one.
        let t2 = t1 + Duration::from_secs(1);
        model.update(&status(vec![replica("a", 0, usage(10, 0, 1), 1)]), &[], t2);
        assert_eq!(model.rows[0].cpu, None);
    }

    #[test]
    fn keys_change_the_order_and_q_or_esc_quits() {
        let mut model = Model::new(SortKey::Cpu);
        let t0 = Instant::now();
        let services = |cpu: [u64; 3]| {
            status(vec![
                replica("a", 0, usage(cpu[0], 30 << 20, 1), 0),
                replica("b", 0, usage(cpu[1], 10 << 20, 7), 5),
                replica("c", 0, usage(cpu[2], 20 << 20, 3), 2),
            ])
        };
        model.update(&services([0, 0, 0]), &[], t0);
        model.update(&services([100, 900_000, 500_000]), &[], t0 + Duration::from_secs(1));
        assert_eq!(names(&model), ["b[0]", "c[0]", "a[0]"]);
        assert_eq!(model.on_input(&key('m')), Flow::Continue);
        assert_eq!(names(&model), ["a[0]", "c[0]", "b[0]"]);
        model.on_input(&key('p'));
        assert_eq!(names(&model), ["b[0]", "c[0]", "a[0]"]);
        model.on_input(&key('n'));
        assert_eq!(names(&model), ["a[0]", "b[0]", "c[0]"]);
        model.on_input(&key('r'));
        assert_eq!(names(&model), ["b[0]", "c[0]", "a[0]"]);
        model.on_input(&key('x'));
        assert_eq!(model.sort, SortKey::Restarts, "other keys change nothing");
        assert_eq!(model.on_input(&key('q')), Flow::Quit);
        assert_eq!(model.on_input(&TermEvent::Key(KeyEvent::from(KeyCode::Esc))), Flow::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(model.on_input(&TermEvent::Key(ctrl_c)), Flow::Quit);
    }

    #[test]
    fn the_events_pane_keeps_only_the_latest() {
        let mut model = Model::new(SortKey::Cpu);
        for seq in 0..(EVENTS_KEPT as u64 + 5) {
            let event: Event = serde_json::from_value(serde_json::json!({
                "seq": seq, "at": 0, "unit": "", "type": "daemon", "message": format!("m{seq}")
            }))
            .unwrap();
            model.push_event(&event);
        }
        assert_eq!(model.events.len(), EVENTS_KEPT);
        assert!(model.events.back().unwrap().contains(&format!("m{}", EVENTS_KEPT + 4)));
        assert!(model.events.front().unwrap().contains("m5"));
    }
}
