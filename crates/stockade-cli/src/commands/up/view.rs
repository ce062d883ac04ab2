//! How the [`UpModel`] looks on a terminal: one screen that fits whatever
//! size it gets (80×24 and up) — a title, the replicas, the live jobs, the
//! latest events and a pane of the services' output. Every cell is cut to
//! its column with `…`; sections that do not fit say how many rows they
//! left out. States are coloured (`colour.rs` decides the words' colours).

use super::model::UpModel;
use crate::colour::{Paint, of_cause, of_state};
use crate::render::{bytes, duration_ms};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

/// Replica columns: name, state, pid, restarts, memory, cpu, uptime.
const REPLICA_COLUMNS: [(&str, usize); 7] =
    [("NAME", 14), ("STATE", 17), ("PID", 7), ("RST", 3), ("MEMORY", 21), ("CPU", 4), ("UP", 7)];
/// Job columns: id, template, state, age, and why (the rest of the line).
const JOB_COLUMNS: [(&str, usize); 4] = [("JOB", 7), ("TEMPLATE", 14), ("STATE", 9), ("AGE", 6)];

/// `text` cut or padded to exactly `width` characters (`…` marks a cut).
pub fn fit(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        return format!("{text:<width$}");
    }
    if width == 0 {
        return String::new();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

fn style_of(paint: Option<Paint>) -> Style {
    match paint {
        Some(Paint::Green) => Style::default().fg(Color::Green),
        Some(Paint::Yellow) => Style::default().fg(Color::Yellow),
        Some(Paint::Red) => Style::default().fg(Color::Red),
        Some(Paint::Dim) => Style::default().add_modifier(Modifier::DIM),
        Some(Paint::Bold) => Style::default().add_modifier(Modifier::BOLD),
        None => Style::default(),
    }
}

fn bold(text: String) -> Line<'static> {
    Line::from(Span::styled(text, Style::default().add_modifier(Modifier::BOLD)))
}

/// A header line of `columns`, then the rest of the width for `last`.
fn header(columns: &[(&str, usize)], last: Option<&str>, width: usize) -> Line<'static> {
    let mut text: String = columns.iter().map(|(name, w)| fit(name, *w) + " ").collect();
    if let Some(last) = last {
        text.push_str(last);
    }
    bold(fit(text.trim_end(), width))
}

/// How many rows each section gets on a screen `height` rows tall.
struct Heights {
    replicas: usize,
    jobs: usize,
    events: usize,
    logs: usize,
}

impl Heights {
    fn of(model: &UpModel, height: usize) -> Heights {
        // Title, the pools or warnings line, four section headers.
        let fixed = 2 + 4;
        let mut left = height.saturating_sub(fixed);
        let replicas = model.replicas.len().max(1).min(left.saturating_sub(6).max(1)).min(10);
        left = left.saturating_sub(replicas);
        let jobs = model.jobs.len().clamp(1, 4).min(left.saturating_sub(4).max(1));
        left = left.saturating_sub(jobs);
        let events = 3.min(left.saturating_sub(2));
        left = left.saturating_sub(events);
        Heights { replicas, jobs, events, logs: left }
    }
}

impl UpModel {
    /// Every line of the screen, `width` columns by at most `height` rows.
    pub fn lines(&self, width: usize, height: usize) -> Vec<Line<'static>> {
        let h = Heights::of(self, height);
        let mut out = Vec::with_capacity(height);
        out.push(bold(fit(&self.title, width)));
        let note = if let Some(w) = self.warnings.first() {
            format!("warning: {w}")
        } else if !self.pools.is_empty() {
            format!("pools: {}", self.pools.join("; "))
        } else {
            "Ctrl-C stops everything cleanly; twice: kill every box now".to_string()
        };
        out.push(Line::from(fit(&note, width)));
        self.replica_lines(&mut out, h.replicas, width);
        self.job_lines(&mut out, h.jobs, width);
        out.push(bold(fit(&format!("EVENTS{}", self.missed_note()), width)));
        let skip = self.events.len().saturating_sub(h.events);
        for line in self.events.iter().skip(skip) {
            out.push(Line::from(fit(line, width)));
        }
        out.push(bold(fit("LOGS", width)));
        let skip = self.logs.len().saturating_sub(h.logs);
        for line in self.logs.iter().skip(skip) {
            out.push(Line::from(fit(line, width)));
        }
        out.truncate(height);
        out
    }

    fn missed_note(&self) -> String {
        if self.missed == 0 {
            String::new()
        } else {
            format!(" ({} missed while busy)", self.missed)
        }
    }

    fn replica_lines(&self, out: &mut Vec<Line<'static>>, rows: usize, width: usize) {
        out.push(header(&REPLICA_COLUMNS, None, width));
        if self.replicas.is_empty() {
            out.push(Line::from(fit("(no services)", width)));
            return;
        }
        let shown = if self.replicas.len() > rows { rows.saturating_sub(1) } else { rows };
        for r in self.replicas.iter().take(shown) {
            let memory = match (r.memory, r.memory_limit) {
                (Some(m), Some(l)) => format!("{} / {}", bytes(m), bytes(l)),
                (Some(m), None) => bytes(m),
                _ => "-".into(),
            };
            let cells = [
                r.name.clone(),
                r.state.clone(),
                r.pid.map_or("-".into(), |p| p.to_string()),
                r.restarts.to_string(),
                memory,
                r.cpu.map_or("-".into(), |c| format!("{c:.0}%")),
                r.started_at.map_or("-".into(), |t| duration_ms(self.now.saturating_sub(t))),
            ];
            let spans = cells.iter().zip(REPLICA_COLUMNS).enumerate().map(|(i, (cell, (_, w)))| {
                let style = if i == 1 { style_of(of_state(cell)) } else { Style::default() };
                let gap = if i + 1 < REPLICA_COLUMNS.len() { " " } else { "" };
                Span::styled(fit(cell, w) + gap, style)
            });
            out.push(cut_line(spans.collect(), width));
        }
        if self.replicas.len() > shown {
            let more = self.replicas.len() - shown;
            out.push(Line::from(fit(
                &format!("… {more} more replica(s): `stockade ps` lists every one"),
                width,
            )));
        }
    }

    fn job_lines(&self, out: &mut Vec<Line<'static>>, rows: usize, width: usize) {
        out.push(header(&JOB_COLUMNS, Some(&format!("WHY ({} live)", self.jobs_total)), width));
        if self.jobs.is_empty() {
            out.push(Line::from(fit("(no live jobs)", width)));
            return;
        }
        let total = (self.jobs_total as usize).max(self.jobs.len());
        let shown = if total > rows { rows.saturating_sub(1) } else { rows };
        let why_width = width.saturating_sub(JOB_COLUMNS.iter().map(|(_, w)| w + 1).sum());
        for j in self.jobs.iter().take(shown) {
            let state = j.state.to_string();
            let mut spans = vec![
                Span::raw(fit(&j.id.to_string(), 7) + " "),
                Span::raw(fit(&j.template, 14) + " "),
                Span::styled(fit(&state, 9) + " ", style_of(of_state(&state))),
                Span::raw(fit(&duration_ms(self.now.saturating_sub(j.since)), 6) + " "),
            ];
            spans.push(Span::styled(fit(&j.why, why_width), style_of(of_cause(&j.why))));
            out.push(cut_line(spans, width));
        }
        if total > shown {
            out.push(Line::from(fit(
                &format!("… {} more job(s): `stockade ps`", total - shown),
                width,
            )));
        }
    }
}

/// `spans` cut to `width` characters in all.
fn cut_line(spans: Vec<Span<'static>>, width: usize) -> Line<'static> {
    let mut left = width;
    let mut out = Vec::with_capacity(spans.len());
    for span in spans {
        if left == 0 {
            break;
        }
        let count = span.content.chars().count();
        if count <= left {
            left -= count;
            out.push(span);
        } else {
            out.push(Span::styled(fit(&span.content, left), span.style));
            left = 0;
        }
    }
    Line::from(out)
}

impl Widget for &UpModel {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let lines = self.lines(usize::from(area.width), usize::from(area.height));
        Paragraph::new(lines).render(area, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_proto::{Event, EventKind, JobId, JobState, Seq, ServiceState};

    /// The screen of a model, as text, at `width`×`height`.
    fn screen(model: &UpModel, width: u16, height: u16) -> String {
        let area = Rect::new(0, 0, width, height);
        let mut buf = Buffer::empty(area);
        model.render(area, &mut buf);
        (0..height)
            .map(|y| {
                let row: String = (0..width).map(|x| buf[(x, y)].symbol().to_string()).collect();
                row.trim_end().to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn herd() -> UpModel {
        let mut model = UpModel::new(
            "stockade up — /srv/traitorsim/stockade.toml — boxes: cgroup v1 hybrid — unix:/srv/traitorsim/.stockade/stockade.sock".into(),
            Vec::new(),
        );
        model.now = 1_000_000;
        let status = serde_json::json!({
            "pid": 42, "started_at": 0, "spec": "s", "sandbox": "v1", "warnings": [],
            "services": (0..14).map(|r| serde_json::json!({
                "service": if r == 0 { "router" } else { "player-with-a-long-name" },
                "replica": r,
                "state": if r == 3 { "backoff" } else { "running" },
                "reason": if r == 3 { Some("restarting after exit code 1") } else { None },
                "pid": 1000 + r, "restarts": if r == 3 { 4 } else { 0 },
                "started_at": 1_000_000 - 60_000 * (r + 1),
                "usage": {"memory_current": 120_u64 << 20, "cpu_usec": 5_000_000},
                "limits": {"memory": 256_u64 << 20},
            })).collect::<Vec<_>>(),
            "pools": [{"name": "default", "running": 2, "queued": 7, "max_concurrency": 2, "mode": "fixed", "utilization_percent": 100, "max_queued": 10000}],
        });
        match serde_json::from_value(status) {
            Ok(status) => model.apply_status(&status, 1_000_000),
            Err(e) => panic!("the fixture is a StatusView: {e}"),
        }
        for (id, state, why) in [
            (7, "running", ""),
            (8, "running", ""),
            (9, "queued", "pool default is full (2/2 running)"),
        ] {
            let event = Event {
                seq: Seq(id),
                at: 1_000_000 - 30_000,
                unit: "selfplay".into(),
                kind: EventKind::JobState {
                    job: JobId(id),
                    state: serde_json::from_value(serde_json::json!(state))
                        .unwrap_or(JobState::Queued),
                    reason: (!why.is_empty()).then(|| why.to_string()),
                },
            };
            model.apply_event(&event, format!("12:00:0{id}  #{id}  job {id} (selfplay)  {state}"));
        }
        let restart = Event {
            seq: Seq(20),
            at: 1_000_000,
            unit: "player-with-a-long-name".into(),
            kind: EventKind::ServiceState {
                replica: 3,
                state: ServiceState::Backoff,
                reason: Some("restarting after exit code 1".into()),
            },
        };
        model.apply_event(
            &restart,
            "12:00:20  #20  player-with-a-long-name[3]  backoff (restarting after exit code 1)"
                .into(),
        );
        for i in 0..30 {
            model.push_log(&format!("player-with-a-long-name[{}]", i % 3), &format!("turn {i}: the traitor is somewhere in this very long line of game output that will not fit"));
        }
        model
    }

    #[test]
    fn the_up_screen_fits_80_by_24_and_cuts_with_an_ellipsis() {
        let model = herd();
        let text = screen(&model, 80, 24);
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{line}");
        }
        assert_eq!(text.lines().count(), 24);
        insta::assert_snapshot!("up_80x24", text);
    }

    #[test]
    fn a_tiny_terminal_still_gets_a_screen_without_panicking() {
        let model = herd();
        for (w, h) in [(20, 5), (1, 1), (200, 60)] {
            let text = screen(&model, w, h);
            assert!(text.lines().count() <= usize::from(h));
        }
    }

    #[test]
    fn fit_pads_and_cuts() {
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 0), "");
    }
}
