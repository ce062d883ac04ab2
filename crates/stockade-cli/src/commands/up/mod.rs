//! `stockade up`: the daemon in the foreground with a live view.
//!
//! In a terminal the view takes the alternate screen (restored on exit,
//! error and panic) and shows the replicas, the live jobs, the latest events
//! and the services' output (`view.rs`), cut to fit 80×24 and up; the
//! daemon's own log goes to `<state_dir>/daemon.log`. The view follows the
//! engine's event broadcast — a state change shows at once — and samples
//! only what has no event: usage, and new output lines, once a second.
//! However many events arrive, it redraws at most every [`FRAME`]
//! ([`Pacer`]). Without a terminal it prints one line per event (with
//! `--json`, one JSON object per line) and logs to stderr. Ctrl-C stops the
//! daemon (no raw mode, so it stays a signal); twice forces.

mod model;
mod pacer;
mod view;

use model::UpModel;
use pacer::Pacer;

use super::daemon::{LogTarget, daemon_runtime, finish_stopped, init_logging, summary};
use super::signals::{Mode, handle_signals};
use crate::cli::UpArgs;
use crate::render::{event_line, print_json_line};
use anyhow::Context;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use stockade_daemon::{Config, Running};
use stockade_proto::{JobState, now_millis};
use stockade_sandbox::ParentDeath;
use stockade_store::JobFilter;
use tokio::sync::broadcast::error::RecvError;

/// The shortest time between two redraws.
pub const FRAME: Duration = Duration::from_millis(100);
/// How often usage and output are sampled.
const SAMPLE: Duration = Duration::from_secs(1);
/// How many live jobs the view asks for.
const JOBS: usize = 20;
/// The most output read from one log per sample (its newest part).
const LOG_LINES_FIRST: usize = 50;

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
    let config_state_dir = spec.daemon.state_dir.clone();
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
        let state_dir = config_state_dir.clone();
        let json = args.json;
        let view = match rx.await {
            Ok(running) => Some(tokio::spawn(show(running, live, json, state_dir))),
            Err(_) => None,
        };
        let stopped = daemon.await.context("the daemon task panicked")?;
        signals.abort();
        if let Some(view) = view {
            view.abort();
            // The screen guard inside the view is dropped by the abort:
            // wait for it, so the summary lands on the normal screen.
            let _ = view.await;
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

async fn show(running: Running, live: bool, json: bool, state_dir: PathBuf) {
    if !live {
        return lines(running, json).await;
    }
    let title = format!(
        "stockade up — {} — boxes: {} — {}",
        running.engine.status().await.map(|s| s.spec).unwrap_or_default(),
        running.sandbox,
        running.listening.join(", ")
    );
    let model = UpModel::new(title, running.warnings.clone());
    let screen = match Screen::enter() {
        Ok(screen) => screen,
        Err(err) => {
            tracing::warn!(%err, "cannot take over the terminal; printing events instead");
            return lines(running, json).await;
        }
    };
    screen_loop(running, model, screen, state_dir).await;
}

/// Without a terminal: one line (or JSON object) per event.
async fn lines(running: Running, json: bool) {
    let mut events = running.engine.subscribe();
    let mut out = std::io::stdout();
    loop {
        match events.recv().await {
            Ok(event) if json => {
                let _ = print_json_line(&event);
            }
            Ok(event) => {
                let _ = writeln!(out, "{}", event_line(&event));
            }
            Err(RecvError::Lagged(n)) if json => {
                let _ = writeln!(out, "{{\"type\":\"lagged\",\"missed\":{n}}}");
            }
            Err(RecvError::Lagged(n)) => {
                let _ = writeln!(out, "({n} events missed: the view fell behind)");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

async fn screen_loop(running: Running, mut model: UpModel, mut screen: Screen, state_dir: PathBuf) {
    let mut events = running.engine.subscribe();
    let mut sample = tokio::time::interval(SAMPLE);
    sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut logs = LogTails::default();
    let mut pacer = Pacer::new(FRAME);
    let redraw = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(redraw);
    let mut armed = false;
    loop {
        let mut changed = false;
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    let line = event_line(&event);
                    model.apply_event(&event, line);
                    changed = true;
                }
                Err(RecvError::Lagged(n)) => {
                    model.missed += n;
                    changed = true;
                }
                Err(RecvError::Closed) => return,
            },
            _ = sample.tick() => {
                let now = now_millis();
                if let Ok(status) = running.engine.status().await {
                    model.apply_status(&status, now);
                    let names: Vec<(String, PathBuf)> = status
                        .services
                        .iter()
                        .map(|r| {
                            let file = state_dir.join("logs").join(format!("{}.{}.log", r.service, r.replica));
                            (format!("{}[{}]", r.service, r.replica), file)
                        })
                        .collect();
                    let mut tails = std::mem::take(&mut logs);
                    let read = tokio::task::spawn_blocking(move || {
                        let lines = tails.read(&names);
                        (tails, lines)
                    })
                    .await;
                    if let Ok((tails, lines)) = read {
                        logs = tails;
                        for (name, text) in lines {
                            model.push_log(&name, &text);
                        }
                    }
                }
                let filter = JobFilter {
                    states: vec![JobState::Running, JobState::Queued],
                    limit: Some(JOBS),
                    ..JobFilter::default()
                };
                if let Ok(page) = running.engine.job_page(filter, None).await {
                    model.apply_jobs(&page.jobs, page.total);
                }
                changed = true;
            }
            () = &mut redraw, if armed => {
                armed = false;
                pacer.drew(tokio::time::Instant::now().into_std());
                if screen.draw(&model).is_err() {
                    return;
                }
            }
        }
        if changed && !armed {
            let at = pacer.next(tokio::time::Instant::now().into_std());
            redraw.as_mut().reset(tokio::time::Instant::from_std(at));
            armed = true;
        }
    }
}

/// Where each replica's log was read up to.
#[derive(Default)]
struct LogTails {
    positions: HashMap<PathBuf, stockade_engine::log_read::LogPos>,
}

impl LogTails {
    /// The text of each log's records since the last read: whole lines,
    /// without the stored timestamp and stream tags (a log seen for the
    /// first time gives only its last [`LOG_LINES_FIRST`] lines).
    fn read(&mut self, logs: &[(String, PathBuf)]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, path) in logs {
            let from = self.positions.get(path).copied();
            // The live file only (keep 0): the pane shows what is new.
            let Ok((records, pos)) = stockade_engine::log_read::read(path, 0, from) else {
                continue;
            };
            self.positions.insert(path.clone(), pos);
            let mut lines: Vec<&str> = records
                .iter()
                .filter(|r| !r.start)
                .map(|r| r.text.trim_end_matches('\n'))
                .collect();
            if from.is_none() {
                let skip = lines.len().saturating_sub(LOG_LINES_FIRST);
                lines.drain(..skip);
            }
            if !lines.is_empty() {
                out.push((name.clone(), lines.join("\n")));
            }
        }
        out
    }
}

/// The alternate screen, left again when dropped (and by the panic hook).
struct Screen {
    terminal: ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>,
}

impl Screen {
    /// Take the alternate screen and hide the cursor. Not raw mode: Ctrl-C
    /// must stay SIGINT, which stops the daemon.
    fn enter() -> std::io::Result<Screen> {
        use ratatui::crossterm::{cursor, execute, terminal};
        execute!(std::io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            leave();
            previous(info);
        }));
        let terminal =
            ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;
        Ok(Screen { terminal })
    }

    fn draw(&mut self, model: &UpModel) -> std::io::Result<()> {
        self.terminal.draw(|frame| frame.render_widget(model, frame.area())).map(drop)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        leave();
    }
}

/// Back to the normal screen with the cursor shown.
fn leave() {
    use ratatui::crossterm::{cursor, execute, terminal};
    let _ = execute!(std::io::stdout(), cursor::Show, terminal::LeaveAlternateScreen);
}
