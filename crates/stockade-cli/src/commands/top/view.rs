//! How the [`Model`] looks: the ratatui frame (title, the runs table with
//! usage coloured by its share of the limit, the latest events) and the same
//! frame as plain text for `--once`.

use super::model::{Model, SortKey};
use crate::render::{bytes, duration_ms};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Table, Widget};

/// Rows always left to the events pane in the live view.
const EVENTS_MIN_HEIGHT: u16 = 8;
/// Blanks between table columns.
const COLUMN_GAP: u16 = 2;
/// Usage at or past this share of its limit is shown in yellow...
const WARN_PERCENT: f64 = 75.0;
/// ...and at or past this one in red.
const CRIT_PERCENT: f64 = 90.0;

impl Model {
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
                    plain(r.state_text()),
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
    pub(super) fn plain_text(&self) -> String {
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
    use super::super::model::tests::{replica, status, usage};
    use super::*;
    use std::time::Instant;
    use stockade_proto::{JobView, now_millis};

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
        assert!(web.contains("95 MiB / 100 MiB (95%)"), "{web}");
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
}
