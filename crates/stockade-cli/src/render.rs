//! Human output: aligned tables (states and causes coloured on a terminal),
//! sizes, durations, one line per event; and [`print_json`], the one way
//! every `--json` prints (snake_case keys throughout).

use crate::colour::{Paint, of_cause, of_state, paint};
use stockade_proto::{Event, EventKind, UnixMillis};

/// Left-aligned columns, two spaces apart.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    table_painted(headers, rows, &|_, _| None)
}

/// [`table`] with the columns named `STATE` painted by state and `WHY` /
/// `CAUSE` by cause (on a terminal only; see `colour.rs`).
pub fn status_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let kinds: Vec<&str> = headers.to_vec();
    table_painted(headers, rows, &|column, cell| match kinds.get(column) {
        Some(&"STATE") => of_state(cell),
        Some(&"WHY" | &"CAUSE") => of_cause(cell),
        _ => None,
    })
}

/// [`table`], each cell painted by `painter(column, text)` after padding,
/// so escape codes never shift the columns.
pub fn table_painted(
    headers: &[&str],
    rows: &[Vec<String>],
    painter: &dyn Fn(usize, &str) -> Option<Paint>,
) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>, painted: bool| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            let padded = if last {
                cell.trim_end().to_string()
            } else {
                format!("{cell:<width$}  ", width = widths[i])
            };
            let colour = if painted { painter(i, cell) } else { None };
            match colour {
                Some(_) => {
                    let (text, pad) = padded.split_at(cell.len().min(padded.len()));
                    out.push_str(&paint(text, colour));
                    out.push_str(pad);
                }
                None => out.push_str(&padded),
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec(), false);
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect(), true));
    }
    out
}

/// Print `value` as pretty JSON with every key in snake_case (the API keeps
/// a few camelCase keys its first users script against; the CLI has one
/// casing).
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let value = snake_keys(serde_json::to_value(value)?);
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// [`print_json`] on one line (streams: one object per line).
pub fn print_json_line(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let value = snake_keys(serde_json::to_value(value)?);
    println!("{}", serde_json::to_string(&value)?);
    Ok(())
}

/// `value` with every object key turned from camelCase into snake_case.
pub fn snake_keys(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (snake(&k), snake_keys(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(snake_keys).collect()),
        other => other,
    }
}

/// `maxConcurrency` → `max_concurrency`. Only a camelCase key changes (a
/// lowercase start, letters and digits only): names that are data — an env
/// key like `MODEL_PATH`, a unit name with `-` — are left exactly as they are.
fn snake(key: &str) -> String {
    let camel = key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_alphanumeric())
        && key.chars().any(|c| c.is_ascii_uppercase());
    if !camel {
        return key.to_owned();
    }
    let mut out = String::with_capacity(key.len() + 4);
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
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
        EventKind::ScheduleFired { slot, missed: 0 } => {
            format!("{}  schedule fired for {}", event.unit, clock(*slot))
        }
        EventKind::ScheduleFired { slot, missed } => {
            format!(
                "{}  schedule fired for {} ({missed} missed while down)",
                event.unit,
                clock(*slot)
            )
        }
        EventKind::ScheduleSkipped { slot, reason } => {
            format!("{}  schedule skipped {}: {reason}", event.unit, clock(*slot))
        }
        EventKind::AlertFiring { alert, message } => {
            format!("{}  alert {alert} firing: {message}", unit_or_host(&event.unit))
        }
        EventKind::AlertResolved { alert, message } => {
            format!("{}  alert {alert} resolved: {message}", unit_or_host(&event.unit))
        }
        EventKind::Daemon { message } => format!("daemon  {message}"),
        EventKind::SpecReloaded { summary, units } if units.is_empty() => {
            format!("daemon  spec reloaded: {summary}")
        }
        EventKind::SpecReloaded { summary, units } => {
            format!("daemon  spec reloaded: {summary} ({})", units.join(", "))
        }
    };
    format!("{}  #{:<6} {what}", clock(event.at), event.seq.0)
}

/// A unit's name, or `host` for an event about the whole host.
fn unit_or_host(unit: &str) -> &str {
    if unit.is_empty() { "host" } else { unit }
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
    fn json_keys_are_snake_case() {
        let v = snake_keys(
            serde_json::json!({"maxConcurrency": 4, "queue": [{"queuedAt": 1}], "already_snake": 2, "env": {"MODEL_PATH": "x", "Content-Type": "y"}}),
        );
        assert_eq!(
            v,
            serde_json::json!({"max_concurrency": 4, "queue": [{"queued_at": 1}], "already_snake": 2, "env": {"MODEL_PATH": "x", "Content-Type": "y"}})
        );
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
