//! Human output: aligned tables, sizes, durations, and one line per event.

use stockade_proto::{Event, EventKind, UnixMillis};

/// Left-aligned columns, two spaces apart.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `512 MiB`, `3.2 GiB`, `900 B`: the one [`stockade_linux::human_bytes`].
pub use stockade_linux::human_bytes as bytes;

/// `45s`, `3m12s`, `2h05m`, `3d04h`.
pub fn duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// `HH:MM:SS` (UTC) of a timestamp.
pub fn clock(at: UnixMillis) -> String {
    let s = (at / 1000) % 86400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// One line for an event: `12:34:56  web[0]  running`.
pub fn event_line(event: &Event) -> String {
    let what = match &event.kind {
        EventKind::ServiceState { replica, state, reason } => {
            let reason = reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
            format!("{}[{replica}]  {state}{reason}", event.unit)
        }
        EventKind::JobState { job, state, reason } => {
            let reason = reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
            format!("job {job} ({})  {state}{reason}", event.unit)
        }
        EventKind::RunStarted { run, pid } => {
            format!("{}  run {run} started, pid {pid}", event.unit)
        }
        EventKind::RunExited { run, cause } => format!("{}  run {run} ended: {cause}", event.unit),
        EventKind::OomKill { run } => format!("{}  run {run}: OOM kill inside its box", event.unit),
        EventKind::Alert { level, message } => format!("{}  {level}: {message}", event.unit),
        EventKind::Daemon { message } => format!("daemon  {message}"),
    };
    format!("{}  #{:<6} {what}", clock(event.at), event.seq.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_naturally() {
        assert_eq!(bytes(512 << 20), "512 MiB");
        assert_eq!(bytes(900), "900 B");
        assert_eq!(duration_ms(192_000), "3m12s");
        assert_eq!(duration_ms(7_500_000), "2h05m");
        assert_eq!(clock(3_723_000), "01:02:03");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["NAME", "STATE"],
            &[vec!["web".into(), "running".into()], vec!["player".into(), "ready".into()]],
        );
        assert_eq!(t, "NAME    STATE\nweb     running\nplayer  ready\n");
    }
}
