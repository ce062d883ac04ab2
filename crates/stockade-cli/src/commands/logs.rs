//! `stockade logs TARGET... [-F] [-n N] [--since] [--until] [-t]`: the
//! output of services (every replica, or `name[3]`) and jobs (by id), each
//! line with its stream, prefixed by where it came from when there are
//! several (`player[3] | `), merged by time.
//!
//! `-F` follows the daemon's SSE stream of each log (no polling; it wakes on
//! the daemon's inotify). A follow that ends because the daemon stops says
//! so and exits 0. `-f` is the spec file on every stockade command, so
//! `logs x -f` is answered with a pointer to `-F` (see `explain_dash_f`).

use crate::cli::LogsArgs;
use crate::client::{Client, next_chunk};
use crate::exit::{FAILED, fail};
use serde::{Deserialize, Serialize};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use stockade_proto::log_record::parse_rfc3339;
use stockade_proto::{Page, ReplicaView};
use tokio::sync::mpsc;

/// One record as the API sends it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Line {
    /// RFC 3339, or `None` for an untagged line.
    pub ts: Option<String>,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The text.
    pub text: String,
    /// A piece of a longer line.
    #[serde(default)]
    pub partial: bool,
    /// Its position.
    pub pos: String,
}

#[derive(Debug, Deserialize)]
struct LogPage {
    lines: Vec<Line>,
}

#[derive(Debug, Deserialize)]
struct LogEnd {
    reason: String,
}

/// One log to read: its label and endpoint (ending in `?` or `&`, for the common query).
#[derive(Debug, Clone)]
struct Source {
    label: String,
    path: String,
}

/// How lines are printed.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Width of the source prefix (0: no prefix).
    pub prefix_width: usize,
    /// Print each line's time.
    pub timestamps: bool,
    /// Colour stderr lines (a terminal, and NO_COLOR unset).
    pub colour: bool,
}

/// Print the output; with `-F`, follow it.
pub async fn run(client: Client, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let sources = sources(&client, args).await?;
    let query = query(args)?;
    let style = Style {
        prefix_width: if sources.len() > 1 {
            sources.iter().map(|s| s.label.chars().count()).max().unwrap_or(0)
        } else {
            0
        },
        timestamps: args.timestamps,
        colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    if args.follow && !args.previous {
        return follow(client, sources, &query, style, args.json).await;
    }
    let mut all: Vec<(usize, Line)> = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let page: LogPage = client.get(&format!("{}{query}", source.path)).await?;
        all.extend(page.lines.into_iter().map(|l| (i, l)));
    }
    if sources.len() > 1 {
        // Stable: one source's lines keep their order (untagged lines sort first).
        all.sort_by(|a, b| a.1.ts.cmp(&b.1.ts));
    }
    let mut out = Printer::new(style);
    let labels: Vec<&str> = sources.iter().map(|s| s.label.as_str()).collect();
    for (i, line) in &all {
        out.print(labels[*i], line, args.json)?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// Follow one job's output to its end, as `logs ID -F` does (`run --attach`).
pub(crate) async fn follow_job(client: Client, id: u64) -> anyhow::Result<ExitCode> {
    let source = Source { label: format!("job {id}"), path: format!("/api/jobs/{id}/logs?") };
    let style = Style {
        prefix_width: 0,
        timestamps: false,
        colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    follow(client, vec![source], "follow=true", style, false).await
}

/// The query common to every source (without `?`).
fn query(args: &LogsArgs) -> anyhow::Result<String> {
    let mut q = Vec::new();
    if let Some(n) = args.tail {
        q.push(format!("tail={n}"));
    }
    for (name, value) in [("since", &args.since), ("until", &args.until)] {
        if let Some(v) = value {
            q.push(format!("{name}={}", time_arg(name, v)?));
        }
    }
    if args.follow {
        q.push("follow=true".into());
    }
    if args.previous {
        q.push("previous=true".into());
    }
    if let Some(pos) = &args.after {
        q.push(format!("after={pos}"));
    }
    Ok(q.join("&"))
}

/// `--since 10m` (that long ago) or an RFC 3339 time, as Unix milliseconds.
fn time_arg(name: &str, value: &str) -> anyhow::Result<i64> {
    if let Some(ns) = parse_rfc3339(value.as_bytes()) {
        return Ok(ns / 1_000_000);
    }
    match stockade_spec::parse_duration(value) {
        Ok(ago) => Ok(stockade_proto::now_millis() as i64 - ago.as_millis() as i64),
        Err(_) => Err(fail(
            FAILED,
            format!("--{name} {value}: not a duration or a time"),
            Some(
                "give a duration ago (10m, 2h, 1d) or an RFC 3339 time (2026-12-02T14:00:00Z)"
                    .into(),
            ),
        )),
    }
}

/// Every log the targets name, in order.
async fn sources(client: &Client, args: &LogsArgs) -> anyhow::Result<Vec<Source>> {
    let mut sources = Vec::new();
    for target in &args.targets {
        if let Ok(id) = target.parse::<u64>() {
            sources
                .push(Source { label: format!("job {id}"), path: format!("/api/jobs/{id}/logs?") });
            continue;
        }
        let (name, replica) = match target.strip_suffix(']').and_then(|t| t.split_once('[')) {
            Some((name, index)) => {
                let index = index.parse::<u32>().map_err(|_| {
                    fail(
                        FAILED,
                        format!("`{target}`: the replica is not a number"),
                        Some("e.g. player[3]".into()),
                    )
                })?;
                (name.to_string(), Some(index))
            }
            None => (target.clone(), args.replica),
        };
        let replicas = match replica {
            Some(r) => vec![r],
            None => {
                let page: Page<ReplicaView> = client.get("/api/services?limit=1000").await?;
                let mut found: Vec<u32> =
                    page.items.iter().filter(|r| r.service == name).map(|r| r.replica).collect();
                if found.is_empty() {
                    found.push(0); // the daemon's 404 names the known services
                }
                found
            }
        };
        for r in replicas {
            sources.push(Source {
                label: format!("{name}[{r}]"),
                path: format!("/api/services/{name}/logs?replica={r}&"),
            });
        }
    }
    Ok(sources)
}

/// Prints lines, keeping pieces of one line on one output line.
pub struct Printer {
    style: Style,
    out: std::io::BufWriter<std::io::Stdout>,
    /// The source and stream of an unfinished line.
    open: Option<(String, String)>,
}

impl Printer {
    /// A printer to stdout.
    pub fn new(style: Style) -> Printer {
        Printer { style, out: std::io::BufWriter::new(std::io::stdout()), open: None }
    }

    /// Print one line (`json`: as an object with its `source`).
    pub fn print(&mut self, label: &str, line: &Line, json: bool) -> std::io::Result<()> {
        if json {
            let mut value = serde_json::to_value(line).unwrap_or_default();
            value["source"] = serde_json::Value::String(label.to_string());
            return writeln!(self.out, "{value}");
        }
        let key = (label.to_string(), line.stream.clone());
        let continues = self.open.as_ref() == Some(&key);
        if self.open.is_some() && !continues {
            writeln!(self.out)?;
        }
        let text = render(label, line, self.style, continues);
        if line.partial {
            write!(self.out, "{text}")?;
            self.open = Some(key);
        } else {
            writeln!(self.out, "{text}")?;
            self.open = None;
        }
        Ok(())
    }

    /// Flush (and end an unfinished line).
    pub fn finish(&mut self) -> std::io::Result<()> {
        if self.open.take().is_some() {
            writeln!(self.out)?;
        }
        self.out.flush()
    }
}

/// One line as printed: `[prefix | ][time ]text`, stderr in red on a
/// terminal. `continues`: the rest of a line already begun (no prefix).
pub fn render(label: &str, line: &Line, style: Style, continues: bool) -> String {
    let mut s = String::new();
    if !continues {
        if style.prefix_width > 0 {
            s.push_str(&format!("{label:<w$} | ", w = style.prefix_width));
        }
        if style.timestamps {
            s.push_str(line.ts.as_deref().unwrap_or("-                             "));
            s.push(' ');
        }
    }
    if style.colour && line.stream == "stderr" {
        s.push_str(&format!("\x1b[31m{}\x1b[0m", line.text));
    } else {
        s.push_str(&line.text);
    }
    s
}

/// What a follower task reports.
enum Item {
    Line(usize, Line),
    End(String),
    /// The connection broke (why, for the debug log).
    Broke(String),
}

async fn follow(
    client: Client,
    sources: Vec<Source>,
    query: &str,
    style: Style,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut bodies = Vec::new();
    for source in &sources {
        // Opened here so a bad target fails before anything is printed.
        bodies.push(client.stream(&format!("{}{query}", source.path)).await?);
    }
    for (i, body) in bodies.into_iter().enumerate() {
        tokio::spawn(read_sse(i, body, tx.clone()));
    }
    drop(tx);
    let mut out = Printer::new(style);
    let mut open = sources.len();
    let mut stopped = None;
    while let Some(item) = rx.recv().await {
        match item {
            Item::Line(i, line) => {
                out.print(&sources[i].label, &line, json)?;
                if rx.is_empty() {
                    out.out.flush()?;
                }
            }
            Item::End(reason) => {
                open -= 1;
                if reason == "daemon_stopping" {
                    stopped = Some("the daemon is stopping");
                }
            }
            Item::Broke(why) => {
                tracing::debug!(%why, "a log stream broke");
                open -= 1;
                stopped = Some("the connection to the daemon was lost (did it stop?)");
            }
        }
        if open == 0 {
            break;
        }
    }
    out.finish()?;
    if let Some(why) = stopped {
        eprintln!("stockade: the follow ended: {why}; run the command again once it is back");
    }
    Ok(ExitCode::SUCCESS)
}

/// Read one SSE stream of log events into `tx`.
async fn read_sse(i: usize, mut body: hyper::body::Incoming, tx: mpsc::UnboundedSender<Item>) {
    let mut pending = String::new();
    loop {
        let chunk = match next_chunk(&mut body).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                let _ = tx.send(Item::Broke("the stream ended without an end event".into()));
                return;
            }
            Err(err) => {
                let _ = tx.send(Item::Broke(err.to_string()));
                return;
            }
        };
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            let mut event = "message";
            let mut data = String::new();
            for l in block.lines() {
                if let Some(v) = l.strip_prefix("event:") {
                    event = if v.trim() == "end" { "end" } else { "line" };
                } else if let Some(v) = l.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if data.is_empty() {
                continue;
            }
            if event == "end" {
                let reason = serde_json::from_str::<LogEnd>(&data)
                    .map_or_else(|_| "ended".into(), |e| e.reason);
                let _ = tx.send(Item::End(reason));
                return;
            }
            if let Ok(line) = serde_json::from_str::<Line>(&data) {
                let _ = tx.send(Item::Line(i, line));
            }
        }
    }
}

/// `stockade logs x -f`: `-f` is the spec file on every command, so a
/// trailing `-f` (or one followed by something that is not a file) is the
/// `docker logs -f` / `journalctl -f` habit. Say so instead of clap's
/// "a value is required". Returns the message when that is what `argv` is.
pub fn explain_dash_f(argv: &[String]) -> Option<String> {
    let at = argv.iter().position(|a| a == "logs")?;
    let rest = &argv[at + 1..];
    let f = rest.iter().position(|a| a == "-f")?;
    let value = rest.get(f + 1);
    let is_file = value.is_some_and(|v| std::path::Path::new(v).is_file());
    (!is_file).then(|| {
        "`-f` is the spec file on every stockade command (`-f stockade.toml`); to follow a log, use `-F` (as in `tail -F`), e.g. `stockade logs NAME -F`".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_proto::log_record::format_rfc3339;

    fn line(ts: Option<&str>, stream: &str, text: &str) -> Line {
        Line {
            ts: ts.map(str::to_string),
            stream: stream.into(),
            text: text.into(),
            partial: false,
            pos: "1-1".into(),
        }
    }

    #[test]
    fn replicas_are_prefixed_and_times_shown_on_request() {
        let style = Style { prefix_width: 9, timestamps: true, colour: false };
        let ts = format_rfc3339(1_764_685_321_123_456_789);
        let rendered = [
            render("player[3]", &line(Some(&ts), "stdout", "ready"), style, false),
            render("router[0]", &line(Some(&ts), "stderr", "warn: slow"), style, false),
            render("job 17", &line(None, "stdout", "old untagged line"), style, false),
        ]
        .join("\n");
        insta::assert_snapshot!(rendered);
        let plain = Style { prefix_width: 0, timestamps: false, colour: true };
        assert_eq!(render("x", &line(None, "stderr", "boom"), plain, false), "\x1b[31mboom\x1b[0m");
        assert_eq!(render("x", &line(None, "stdout", "fine"), plain, false), "fine");
    }

    #[test]
    fn a_trailing_dash_f_points_at_dash_capital_f() {
        let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(explain_dash_f(&argv("stockade logs web -f")).unwrap().contains("-F"));
        assert!(explain_dash_f(&argv("stockade logs web -f nosuchfile.toml")).is_some());
        assert!(explain_dash_f(&argv("stockade logs web -F")).is_none());
        assert!(explain_dash_f(&argv("stockade ps -f")).is_none());
    }
}
