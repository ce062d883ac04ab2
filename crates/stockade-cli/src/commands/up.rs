//! `stockade up`: the daemon in the foreground with a live view.
//!
//! In a terminal it redraws a table (name, replica, state, pid, restarts,
//! memory, cpu, uptime) with the latest state changes below it, and the
//! daemon's own log goes to `<state_dir>/daemon.log`. Without a terminal, or
//! with `--json`, it prints one JSON event per line and logs to stderr.

use super::daemon::{LogTarget, daemon_runtime, finish_stopped, init_logging, summary};
use super::signals::{Mode, handle_signals};
use crate::cli::UpArgs;
use crate::render::{bytes, duration_ms, event_line, table};
use anyhow::Context;
use std::collections::{HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use stockade_daemon::{Config, Running};
use stockade_linux::CpuSample;
use stockade_proto::{Event, StatusView, now_millis};
use stockade_sandbox::ParentDeath;
use tokio::sync::broadcast::error::RecvError;

/// How many recent events the live view shows.
const RECENT: usize = 12;

/// Run the daemon with a live view until SIGTERM/SIGINT.
pub fn run(spec_path: &Path, args: &UpArgs) -> anyhow::Result<ExitCode> {
    let spec = super::load_spec(spec_path)?;
    let live = !args.json && std::io::stdout().is_terminal();
    if live {
        // Private like the store (0700/0600): the log names job args.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&spec.daemon.state_dir)
            .with_context(|| format!("cannot create {}", spec.daemon.state_dir.display()))?;
        let log = spec.daemon.state_dir.join("daemon.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", log.display()))?;
        init_logging(LogTarget::File(file));
    } else {
        init_logging(LogTarget::Stderr);
    }
    let runtime = daemon_runtime()?;
    let stopped = runtime.block_on(async move {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let config = Config {
            parent_death: ParentDeath::Kill,
            new_store: args.store.new_store,
            ..Config::new(spec)
        };
        let (stopper, stops) = stockade_daemon::stop_channel();
        let signals = tokio::spawn(handle_signals(stopper, Mode::Up));
        let daemon = tokio::spawn(stockade_daemon::run_with(config, stops, Some(tx)));
        let view = match rx.await {
            Ok(running) => Some(tokio::spawn(show(running, live))),
            Err(_) => None,
        };
        let stopped = daemon.await.context("the daemon task panicked")?;
        signals.abort();
        if let Some(view) = view {
            view.abort();
        }
        stopped
    })?;
    let report = stopped.report.clone();
    summary(&stopped);
    if live {
        println!(
            "\nstopped: {} run(s) ended cleanly, {} killed after their grace",
            report.clean, report.killed
        );
    }
    finish_stopped(stopped)
}

async fn show(running: Running, live: bool) {
    let mut events = running.engine.subscribe();
    let mut out = std::io::stdout();
    if !live {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Ok(line) = serde_json::to_string(&event) {
                        let _ = writeln!(out, "{line}");
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let _ = writeln!(out, "{{\"type\":\"lagged\",\"missed\":{n}}}");
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
    let mut recent: VecDeque<String> = VecDeque::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut previous_cpu: HashMap<(String, u32), CpuSample> = HashMap::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            event = events.recv() => match event {
                Ok(event) => push(&mut recent, &event),
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
        let Ok(status) = running.engine.status().await else { return };
        let screen = draw(&running, &status, &recent, &mut previous_cpu);
        let _ = write!(out, "\x1b[H\x1b[2J{screen}");
        let _ = out.flush();
    }
}

fn push(recent: &mut VecDeque<String>, event: &Event) {
    if recent.len() == RECENT {
        recent.pop_front();
    }
    recent.push_back(event_line(event));
}

fn draw(
    running: &Running,
    status: &StatusView,
    recent: &VecDeque<String>,
    previous_cpu: &mut HashMap<(String, u32), CpuSample>,
) -> String {
    let now = now_millis();
    let sampled = Instant::now();
    let rows: Vec<Vec<String>> = status
        .services
        .iter()
        .map(|r| {
            let usage = r.usage.clone().unwrap_or_default();
            let cpu = match (usage.cpu_usec, previous_cpu.get(&(r.service.clone(), r.replica))) {
                (Some(used), Some(before)) => CpuSample::new(used, sampled)
                    .percent_since(before)
                    .map_or_else(|| "-".into(), |percent| format!("{percent:.0}%")),
                _ => "-".into(),
            };
            if let Some(used) = usage.cpu_usec {
                previous_cpu.insert((r.service.clone(), r.replica), CpuSample::new(used, sampled));
            }
            let memory = match (usage.memory_current, r.limits.memory) {
                (Some(m), Some(limit)) => format!("{} / {}", bytes(m), bytes(limit)),
                (Some(m), None) => bytes(m),
                _ => "-".into(),
            };
            let state = match &r.reason {
                Some(reason) => format!("{} ({reason})", r.state),
                None => r.state.to_string(),
            };
            vec![
                r.service.clone(),
                r.replica.to_string(),
                state,
                r.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                r.restarts.to_string(),
                memory,
                cpu,
                r.started_at
                    .map(|t| duration_ms(now.saturating_sub(t)))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut screen = format!(
        "stockade up — {} — boxes: {} — {}   (Ctrl-C stops everything; twice: kill now)\n\n",
        status.spec,
        running.sandbox,
        running.listening.join(", ")
    );
    for warning in &running.warnings {
        screen.push_str(&format!("warning: {warning}\n"));
    }
    screen.push_str(&table(
        &["NAME", "REPLICA", "STATE", "PID", "RESTARTS", "MEMORY", "CPU", "UPTIME"],
        &rows,
    ));
    let busy: Vec<String> = status
        .pools
        .iter()
        .filter(|p| p.running + p.queued > 0)
        .map(|p| {
            format!("{}: {}/{} running, {} queued", p.name, p.running, p.max_concurrency, p.queued)
        })
        .collect();
    if !busy.is_empty() {
        screen.push_str(&format!("\npools: {}\n", busy.join("; ")));
    }
    screen.push_str("\nrecent:\n");
    for line in recent {
        screen.push_str(&format!("  {line}\n"));
    }
    screen
}
