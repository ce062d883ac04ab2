//! The shell: the engine's one task. It owns everything that does I/O — the
//! command channel, the launcher and its run events, probe results, host
//! samples, the commit pipeline and the event broadcast — feeds each input
//! to [`Engine::step`], and performs the [`Effect`]s it returns. It decides
//! nothing.

use super::commit::Commits;
use super::{Effect, Engine, HostSample, Input};
use crate::command::Command;
use crate::launcher::{Launcher, RunEvent};
use crate::probe::{self, ProbeResult};
use std::collections::HashMap;
use stockade_proto::{Event, RunId};
use stockade_store::Store;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the shell is built from.
pub(super) struct Parts {
    pub store: Store,
    pub launcher: Box<dyn Launcher>,
    /// The run-event channel (adopted runs already report on it).
    pub runs: (mpsc::UnboundedSender<RunEvent>, mpsc::UnboundedReceiver<RunEvent>),
    pub commands: mpsc::Receiver<Command>,
    pub host_samples: mpsc::UnboundedReceiver<HostSample>,
    pub events: broadcast::Sender<Event>,
}

pub(super) struct Shell {
    launcher: Box<dyn Launcher>,
    commands: mpsc::Receiver<Command>,
    run_tx: mpsc::UnboundedSender<RunEvent>,
    run_rx: mpsc::UnboundedReceiver<RunEvent>,
    probe_tx: mpsc::UnboundedSender<ProbeResult>,
    probe_rx: mpsc::UnboundedReceiver<ProbeResult>,
    /// The probe tasks of each live run.
    probes: HashMap<RunId, Vec<JoinHandle<()>>>,
    host_samples: mpsc::UnboundedReceiver<HostSample>,
    commits: Commits,
    events: broadcast::Sender<Event>,
}

impl Shell {
    pub fn new(parts: Parts) -> Shell {
        let (run_tx, run_rx) = parts.runs;
        let (probe_tx, probe_rx) = mpsc::unbounded_channel();
        Shell {
            launcher: parts.launcher,
            commands: parts.commands,
            run_tx,
            run_rx,
            probe_tx,
            probe_rx,
            probes: HashMap::new(),
            host_samples: parts.host_samples,
            commits: Commits::new(parts.store),
            events: parts.events,
        }
    }

    /// The loop. Ends after a shutdown command once every box is empty and
    /// every write is committed.
    pub async fn run(mut self, mut engine: Engine) {
        self.commits.share(engine.unrecorded.clone());
        let effects = engine.step(Input::Tick);
        self.perform(effects);
        loop {
            let deadline = engine.next_deadline();
            let input = tokio::select! {
                Some(command) = self.commands.recv() => Input::Command(command),
                Some(event) = self.run_rx.recv() => Input::Run(event),
                Some(result) = self.probe_rx.recv() => Input::Probe(result),
                Some(sample) = self.host_samples.recv() => Input::Host(sample),
                Some(done) = self.commits.next(), if !self.commits.is_empty() => {
                    Input::Committed(done)
                }
                _ = sleep_until(deadline), if deadline.is_some() => Input::Tick,
            };
            let effects = engine.step(input);
            self.perform(effects);
            if engine.finished() {
                break;
            }
        }
    }

    /// Carry out what the engine asked for, in order. Nothing here blocks:
    /// the launcher and the store hand the work to their own threads.
    fn perform(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Persist { writes, then } => self.commits.push(writes, then),
                Effect::Launch(request) => self.launcher.launch(*request, self.run_tx.clone()),
                Effect::Stop { run, request } => self.launcher.stop(run, request),
                Effect::AskUsage { run, reply } => self.launcher.usage(run, reply),
                Effect::SetLimits { run, limits, reply } => {
                    self.launcher.set_limits(run, limits, reply)
                }
                Effect::Forget(run) => self.launcher.forget(run),
                // No subscribers is fine; lagging ones are told by the channel.
                Effect::Publish(event) => {
                    let _ = self.events.send(event);
                }
                Effect::StartProbes { run, probes } => {
                    let tasks = probes
                        .into_iter()
                        .map(|(kind, spec)| probe::spawn(run, kind, spec, self.probe_tx.clone()));
                    self.probes.insert(run, tasks.collect());
                }
                Effect::StopProbes(run) => {
                    for task in self.probes.remove(&run).into_iter().flatten() {
                        task.abort();
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
