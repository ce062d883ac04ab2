//! `stockade top`: a live terminal view of every run's usage against its
//! limits, sortable, with the latest events below.
//!
//! One task owns the [`Model`] and redraws on every input: a key (from a
//! small thread, because crossterm's reader blocks), a [`Sample`] of
//! `GET /api/status` and the running jobs (from a task that takes one a
//! second), or an event (from a follower of `GET /api/events?tail=20`). The
//! view never waits on the daemon, so `q` always works. The terminal is restored on quit, on
//! error (a drop guard) and on panic (ratatui's hook). `--once`, or a stdout
//! that is not a terminal, renders one frame as plain text instead; `--json`
//! prints the same rows once as data (`json.rs`).
//!
//! Start here with [`run`] and the event loop; `model.rs` turns samples and
//! keys into sorted rows, `view.rs` draws them, and `feed.rs` fetches from
//! the daemon.

mod feed;
mod json;
mod model;
mod view;

pub use model::SortKey;

use crate::client::Client;
use anyhow::Context;
use clap::Args;
use feed::{Followed, REFRESH, Sample, backlog, spawn_event_follower, spawn_sampler};
use model::{Flow, Model};
use ratatui::crossterm::event::{self as term, Event as TermEvent};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::mpsc;

/// `top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Print one frame as plain text and exit (also what happens when stdout is not a terminal).
    #[arg(long)]
    pub once: bool,
    /// The initial sort order (keys c, m, p, n, r change it live).
    #[arg(long, value_enum, default_value_t = SortKey::Cpu)]
    pub sort: SortKey,
    /// Print one snapshot as JSON and exit: every replica and running job
    /// with its state, pid, cpu %, memory, tasks and their limits, restarts
    /// and uptime, in the --sort order.
    #[arg(long, conflicts_with = "once")]
    pub json: bool,
}

/// Show the live view until `q`, Esc, Ctrl-C, SIGTERM or SIGHUP.
pub async fn run(client: Client, args: &TopArgs) -> anyhow::Result<ExitCode> {
    let mut model = Model::new(args.sort);
    // Fail before touching the terminal when the daemon is not there: the
    // error (exit 3 with a hint) must land on a normal screen.
    model.apply(&Sample::take(&client).await?);
    if args.once || args.json || !std::io::stdout().is_terminal() {
        // A second sample, for cpu rates.
        tokio::time::sleep(REFRESH / 2).await;
        model.apply(&Sample::take(&client).await?);
        if args.json {
            crate::render::print_json(&json::Snapshot::of(&model))?;
            return Ok(ExitCode::SUCCESS);
        }
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
