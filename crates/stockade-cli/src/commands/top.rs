//! `stockade top`: a live terminal view of every run's usage against its
//! limits, sortable, with the latest events below.
//!
//! One task owns the [`Model`] and redraws on every input: a key (from a
//! small thread, because crossterm's reader blocks), a [`Sample`] of
//! `GET /api/status` and the running jobs (from a task that takes one a
//! second), or an event (from a follower of `GET /api/events?tail=20`). The
//! view never waits on the daemon, so `q` always works. The terminal is restored on quit, on
//! error (a drop guard) and on panic (ratatui's hook). `--once`, or a stdout
//! that is not a terminal, renders one frame as plain text instead.

use crate::client::{Client, next_chunk};
use crate::render::{bytes, duration_ms, event_line};
use anyhow::Context;
use clap::{Args, ValueEnum};
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{
    self as term, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers,
};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Table, Widget};
use std::collections::{HashMap, VecDeque};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use stockade_proto::{Event, JobView, StatusView, now_millis};
use tokio::sync::mpsc;

/// How often usage is sampled; cpu % is the cpu time used in that window.
const REFRESH: Duration = Duration::from_secs(1);
/// How long one sample may take before the view says the daemon is stuck.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How many past events the pane starts with, and how many it keeps.
const EVENTS_KEPT: usize = 20;
/// Rows always left to the events pane in the live view.
const EVENTS_MIN_HEIGHT: u16 = 8;
/// Blanks between table columns.
const COLUMN_GAP: u16 = 2;
/// Usage at or past this share of its limit is shown in yellow...
const WARN_PERCENT: f64 = 75.0;
/// ...and at or past this one in red.
const CRIT_PERCENT: f64 = 90.0;

/// `top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Print one frame as plain text and exit (also what happens when stdout is not a terminal).
    #[arg(long)]
    pub once: bool,
    /// The initial sort order (keys c, m, p, n, r change it live).
    #[arg(long, value_enum, default_value_t = SortKey::Cpu)]
    pub sort: SortKey,
}

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
    fn label(self) -> &'static str {
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

/// Show the live view until `q`, Esc, Ctrl-C, SIGTERM or SIGHUP.
pub async fn run(client: Client, args: &TopArgs) -> anyhow::Result<ExitCode> {
    let mut model = Model::new(args.sort);
    // Fail before touching the terminal when the daemon is not there: the
    // error (exit 3 with a hint) must land on a normal screen.
    model.apply(&Sample::take(&client).await?);
    if args.once || !std::io::stdout().is_terminal() {
        tokio::time::sleep(REFRESH / 2).await;
        model.apply(&Sample::take(&client).await?);
        for event in backlog(&client).await? {
            model.push_event(&event);
        }
        print!("{}", model.plain_text());
        return Ok(ExitCode::SUCCESS);
    }
    let mut terminal = ratatui::try_init().context("cannot take over the terminal")?;
    let restore = Restore;
    let result = live(&client, &mut terminal, &mut model).await;
    drop(restore);
    result.map(|()| ExitCode::SUCCESS)
}

/// Puts the terminal back (cooked mode, main screen) however `top` ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

async fn live(
    client: &Client,
    terminal: &mut ratatui::DefaultTerminal,
    model: &mut Model,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut keys = spawn_key_reader();
    let mut samples = spawn_sampler(client.clone());
    let mut events = spawn_event_follower(client.clone());
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut sighup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    loop {
        terminal.draw(|frame| frame.render_widget(&*model, frame.area()))?;
        tokio::select! {
            Some(sample) = samples.recv() => match sample {
                Ok(sample) => model.apply(&sample),
                Err(e) => model.error = Some(format!("{e:#}")),
            },
            key = keys.recv() => match key {
                // The reader ends only when the terminal is gone.
                None => return Ok(()),
                Some(input) => if model.on_input(&input) == Flow::Quit { return Ok(()) },
            },
            Some(note) = events.recv() => match note {
                Followed::Event(event) => model.push_event(&event),
                Followed::Broken(why) => model.error = Some(why),
            },
            _ = sigterm.recv() => return Ok(()),
            _ = sighup.recv() => return Ok(()),
        }
    }
}

/// Terminal input, read on its own thread. It polls so that it notices
/// within 100 ms that the view has gone and ends instead of lingering.
fn spawn_key_reader() -> mpsc::Receiver<TermEvent> {
    let (tx, rx) = mpsc::channel(64);
    let reader = move || {
        while !tx.is_closed() {
            match term::poll(Duration::from_millis(100)) {
                Ok(false) => {}
                Ok(true) => {
                    let Ok(input) = term::read() else { return };
                    if tx.blocking_send(input).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    };
    if std::thread::Builder::new().name("top-keys".into()).spawn(reader).is_err() {
        // Without a reader the channel is closed at once and the view quits.
        return mpsc::channel(1).1;
    }
    rx
}

/// One reading of the daemon: every replica (with usage) and the running jobs.
struct Sample {
    status: StatusView,
    jobs: Vec<JobView>,
    /// When it was read, for cpu rates.
    at: Instant,
}

impl Sample {
    async fn take(client: &Client) -> anyhow::Result<Sample> {
        let status = client.get("/api/status").await?;
        let jobs = client.get("/api/jobs?state=running&limit=1000").await?;
        Ok(Sample { status, jobs, at: Instant::now() })
    }
}

/// Sample once a second on a task of its own, so that a slow or hung
/// daemon never delays a key press.
fn spawn_sampler(client: Client) -> mpsc::Receiver<anyhow::Result<Sample>> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tick.tick().await;
        loop {
            tick.tick().await;
            let sample = match tokio::time::timeout(SAMPLE_TIMEOUT, Sample::take(&client)).await {
                Ok(sample) => sample,
                Err(_) => Err(anyhow::anyhow!(
                    "the daemon did not answer within {}s",
                    SAMPLE_TIMEOUT.as_secs()
                )),
            };
            if tx.send(sample).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// What the event follower tells the view.
enum Followed {
    Event(Event),
    Broken(String),
}

/// Follow the event stream, reconnecting (from the last seen seq) when it breaks.
fn spawn_event_follower(client: Client) -> mpsc::Receiver<Followed> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut path = format!("/api/events?tail={EVENTS_KEPT}");
        loop {
            let why = match client.stream(&path).await {
                Ok(mut body) => {
                    let mut sse = SseReader::default();
                    loop {
                        match next_chunk(&mut body).await {
                            Ok(Some(chunk)) => {
                                for event in sse.push(&chunk) {
                                    path = format!("/api/events?since={}", event.seq.0);
                                    if tx.send(Followed::Event(event)).await.is_err() {
                                        return;
                                    }
                                }
                            }
                            Ok(None) => break "the event stream ended".to_string(),
                            Err(e) => break format!("{e:#}"),
                        }
                    }
                }
                Err(e) => format!("{e:#}"),
            };
            if tx.send(Followed::Broken(format!("events: {why}; retrying"))).await.is_err() {
                return;
            }
            tokio::time::sleep(REFRESH).await;
        }
    });
    rx
}

/// The last events, for `--once`: the replay ends when the stream goes idle.
async fn backlog(client: &Client) -> anyhow::Result<Vec<Event>> {
    let mut body = client.stream(&format!("/api/events?tail={EVENTS_KEPT}")).await?;
    let mut sse = SseReader::default();
    let mut events = Vec::new();
    let idle = Duration::from_millis(300);
    while let Ok(chunk) = tokio::time::timeout(idle, next_chunk(&mut body)).await {
        let Some(chunk) = chunk? else { break };
        events.extend(sse.push(&chunk));
    }
    Ok(events)
}

/// Splits an SSE byte stream into events (blank-line separated blocks whose
/// `data:` lines hold one JSON [`Event`]); keep-alive comments are skipped.
#[derive(Default)]
struct SseReader {
    pending: String,
}

impl SseReader {
    fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.pending.push_str(&String::from_utf8_lossy(chunk));
        let mut events = Vec::new();
        while let Some(end) = self.pending.find("\n\n") {
            let block: String = self.pending.drain(..end + 2).collect();
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if let Ok(event) = serde_json::from_str::<Event>(&data) {
                events.push(event);
            }
        }
        events
    }
}

/// Whether the view goes on.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// One line of the table: a service replica or a running job.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    /// `web[0]` or `job:12 (hello)`.
    name: String,
    /// Service or template name and replica or job id, for sorting by name.
    order: (String, u64),
    state: String,
    pid: Option<u32>,
    /// Percent of one CPU over the last sample window.
    cpu: Option<f64>,
    cpu_limit: Option<f64>,
    memory: Option<u64>,
    memory_limit: Option<u64>,
    pids: Option<u64>,
    pids_limit: Option<u64>,
    restarts: Option<u32>,
    uptime_ms: Option<u64>,
}

/// Everything the view shows.
struct Model {
    sort: SortKey,
    rows: Vec<Row>,
    /// `stockade top · spec · daemon pid · boxes`.
    title: String,
    /// The last refresh or event-stream failure, until the next success.
    error: Option<String>,
    events: VecDeque<String>,
    /// The previous cpu sample of each row, by name.
    cpu_seen: HashMap<String, (u64, Instant)>,
}

impl Model {
    fn new(sort: SortKey) -> Model {
        Model {
            sort,
            rows: Vec::new(),
            title: "stockade top".into(),
            error: None,
            events: VecDeque::new(),
            cpu_seen: HashMap::new(),
        }
    }

    fn apply(&mut self, sample: &Sample) {
        self.update(&sample.status, &sample.jobs, sample.at);
        self.error = None;
    }

    fn update(&mut self, status: &StatusView, jobs: &[JobView], at: Instant) {
        let now = now_millis();
        self.title = format!(
            "stockade top · {} · daemon pid {} · boxes: {}",
            status.spec, status.pid, status.sandbox
        );
        let mut rows = Vec::with_capacity(status.services.len() + jobs.len());
        let mut seen = HashMap::new();
        for r in &status.services {
            let name = format!("{}[{}]", r.service, r.replica);
            let usage = r.usage.clone().unwrap_or_default();
            let cpu = usage.cpu_usec.and_then(|used| {
                seen.insert(name.clone(), (used, at));
                let (before, then) = self.cpu_seen.get(&name)?;
                let window = at.checked_duration_since(*then)?.as_micros() as f64;
                // A smaller counter is a new run in the same slot: no rate yet.
                (window > 0.0 && used >= *before).then(|| (used - before) as f64 * 100.0 / window)
            });
            rows.push(Row {
                order: (r.service.clone(), u64::from(r.replica)),
                state: match &r.reason {
                    Some(reason) => format!("{} ({reason})", r.state),
                    None => r.state.to_string(),
                },
                pid: r.pid,
                cpu,
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
        // The API has no usage for jobs yet: they are listed without it.
        for j in jobs {
            rows.push(Row {
                name: format!("job:{} ({})", j.id, j.template),
                order: (j.template.clone(), j.id.0),
                state: j.state.to_string(),
                pid: j.pid,
                cpu: None,
                cpu_limit: None,
                memory: None,
                memory_limit: None,
                pids: None,
                pids_limit: None,
                restarts: None,
                uptime_ms: j.started_at.map(|t| now.saturating_sub(t)),
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
            first.then_with(|| a.order.cmp(&b.order))
        });
    }

    fn push_event(&mut self, event: &Event) {
        if self.events.len() == EVENTS_KEPT {
            self.events.pop_front();
        }
        self.events.push_back(event_line(event));
    }

    fn on_input(&mut self, input: &TermEvent) -> Flow {
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

    /// The cells of each row, as the table shows them.
    fn cells(&self) -> Vec<[Shown; 8]> {
        self.rows
            .iter()
            .map(|r| {
                let cpu_share = r.cpu.zip(r.cpu_limit).map(|(c, l)| c / l);
                let cpu = match (r.cpu, r.cpu_limit) {
                    (Some(c), Some(l)) => format!("{c:.1}% / {:.0}%", l * 100.0),
                    (Some(c), None) => format!("{c:.1}%"),
                    (None, _) => "-".into(),
                };
                [
                    plain(r.name.clone()),
                    plain(r.state.clone()),
                    plain(r.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
                    (cpu, level(cpu_share)),
                    against(r.memory, r.memory_limit, bytes),
                    against(r.pids, r.pids_limit, |n| n.to_string()),
                    plain(r.restarts.map(|n| n.to_string()).unwrap_or_else(|| "-".into())),
                    plain(r.uptime_ms.map(duration_ms).unwrap_or_else(|| "-".into())),
                ]
            })
            .collect()
    }

    fn headers(&self) -> [String; 8] {
        let mark = |name: &str, key: SortKey| {
            if self.sort == key { format!("{name}▼") } else { name.to_string() }
        };
        [
            mark("NAME", SortKey::Name),
            "STATE".into(),
            "PID".into(),
            mark("CPU", SortKey::Cpu),
            mark("MEMORY", SortKey::Memory),
            mark("PIDS", SortKey::Pids),
            mark("RESTARTS", SortKey::Restarts),
            "UPTIME".into(),
        ]
    }

    /// Column widths: the widest of the header and every cell.
    fn widths(&self, cells: &[[Shown; 8]]) -> [u16; 8] {
        let mut widths = self.headers().map(|h| h.chars().count() as u16);
        for row in cells {
            for (w, (text, _)) in widths.iter_mut().zip(row) {
                *w = (*w).max(text.chars().count() as u16);
            }
        }
        widths
    }

    /// One frame as plain text, sized to fit everything (for `--once`).
    fn plain_text(&self) -> String {
        let cells = self.cells();
        let table_width: u16 = self.widths(&cells).iter().map(|w| w + COLUMN_GAP).sum::<u16>() + 2;
        let longest_event = self.events.iter().map(|e| e.chars().count() as u16 + 2).max();
        let width = table_width.max(longest_event.unwrap_or(0)).max(80);
        let height = 1 + self.table_height() + self.events.len() as u16 + 2;
        let area = Rect::new(0, 0, width, height);
        let mut buffer = Buffer::empty(area);
        self.render(area, &mut buffer);
        let mut out = String::new();
        for y in 0..height {
            let line: String =
                (0..width).filter_map(|x| buffer.cell((x, y))).map(|c| c.symbol()).collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Rows, their header and the border.
    fn table_height(&self) -> u16 {
        self.rows.len() as u16 + 3
    }
}

/// A cell's text and style.
type Shown = (String, Style);

fn plain(text: String) -> Shown {
    (text, Style::new())
}

/// `used / limit (pct%)`, coloured by how close it is to the limit.
fn against(used: Option<u64>, limit: Option<u64>, show: impl Fn(u64) -> String) -> Shown {
    match (used, limit) {
        (Some(u), Some(l)) if l > 0 => {
            let share = u as f64 / l as f64;
            (format!("{} / {} ({:.0}%)", show(u), show(l), share * 100.0), level(Some(share)))
        }
        (Some(u), _) => plain(show(u)),
        (None, _) => plain("-".into()),
    }
}

fn level(share: Option<f64>) -> Style {
    match share.map(|s| s * 100.0) {
        Some(p) if p >= CRIT_PERCENT => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Some(p) if p >= WARN_PERCENT => Style::new().fg(Color::Yellow),
        _ => Style::new(),
    }
}

impl Widget for &Model {
    fn render(self, area: Rect, buf: &mut Buffer) {
        // The table takes what it needs, short of a few lines for events.
        let events_height = EVENTS_MIN_HEIGHT.min(self.events.len() as u16 + 2);
        let table_height =
            self.table_height().min(area.height.saturating_sub(1 + events_height)).max(3);
        let [top, middle, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(table_height),
            Constraint::Fill(1),
        ])
        .areas(area);

        let mut title = vec![
            Span::styled(self.title.clone(), Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!(" · sort: {}", self.sort.label())),
        ];
        if let Some(error) = &self.error {
            title.push(Span::styled(format!(" · {error}"), Style::new().fg(Color::Red)));
        }
        Paragraph::new(Line::from(title)).render(top, buf);

        let cells = self.cells();
        let widths = self.widths(&cells).map(Constraint::Length);
        let header = TableRow::new(self.headers())
            .style(Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED));
        let rows = cells
            .into_iter()
            .map(|row| TableRow::new(row.map(|(text, style)| Cell::from(text).style(style))));
        Table::new(rows, widths)
            .header(header)
            .column_spacing(COLUMN_GAP)
            .block(
                Block::bordered()
                    .title(" runs · keys: c cpu  m memory  p pids  n name  r restarts  q quit "),
            )
            .render(middle, buf);

        let shown = bottom.height.saturating_sub(2) as usize;
        let lines: Vec<Line> = self
            .events
            .iter()
            .skip(self.events.len().saturating_sub(shown))
            .map(|e| Line::raw(e.clone()))
            .collect();
        Paragraph::new(lines).block(Block::bordered().title(" latest events ")).render(bottom, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEvent;
    use stockade_proto::{Limits, ReplicaView, ServiceState, Usage};

    fn replica(service: &str, replica: u32, usage: Usage, restarts: u32) -> ReplicaView {
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

    fn status(services: Vec<ReplicaView>) -> StatusView {
        StatusView {
            pid: 1,
            started_at: 0,
            sandbox: "cgroup v1".into(),
            warnings: Vec::new(),
            spec: "stockade.toml".into(),
            services,
            pools: Vec::new(),
        }
    }

    fn usage(cpu_usec: u64, memory: u64, pids: u64) -> Usage {
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
    fn the_frame_shows_usage_against_limits_and_jobs_without_usage() {
        let mut model = Model::new(SortKey::Name);
        let job: JobView = serde_json::from_value(serde_json::json!({
            "id": 7, "template": "agent", "pool": "default", "state": "running", "args": [],
            "priority": 0, "attempt": 1, "max_attempts": 1, "pid": 4242,
            "submitted_at": 0, "started_at": now_millis()
        }))
        .unwrap();
        model.update(
            &status(vec![replica("web", 0, usage(0, 95 << 20, 4), 3)]),
            &[job],
            Instant::now(),
        );
        let frame = model.plain_text();
        let web = frame.lines().find(|l| l.contains("web[0]")).expect(&frame);
        assert!(web.contains("95.0 MiB / 100.0 MiB (95%)"), "{web}");
        assert!(web.contains("4 / 10 (40%)"), "{web}");
        let job = frame.lines().find(|l| l.contains("job:7 (agent)")).expect(&frame);
        assert!(job.contains("4242"), "{job}");
        assert!(frame.lines().next().unwrap().ends_with("sort: name"), "{frame}");
        assert!(frame.contains("NAME▼"), "{frame}");
        // The memory cell is past the critical share: red.
        let cells = model.cells();
        assert_eq!(cells[1][4].1.fg, Some(Color::Red), "95% of the limit is critical");
        assert_eq!(cells[1][5].1.fg, None, "40% is not");
    }

    #[test]
    fn sse_blocks_split_across_chunks_become_events() {
        let mut sse = SseReader::default();
        let one =
            r#"{"seq":5,"at":0,"unit":"web","type":"service_state","replica":0,"state":"running"}"#;
        let wire = format!(": keep-alive\n\nid: 5\nevent: service_state\ndata: {one}\n\n");
        let (head, tail) = wire.split_at(wire.len() / 2);
        assert!(sse.push(head.as_bytes()).is_empty());
        let events = sse.push(tail.as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].seq.0, 5);
        assert!(sse.pending.is_empty());
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
