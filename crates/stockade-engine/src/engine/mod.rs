//! [`Engine`]: the one task that owns every mutable thing in the daemon.
//!
//! Start reading at [`Engine::run`]: a `select!` over commands, run events,
//! probe results, store commits and the next deadline. Handlers for each live
//! in `services.rs` (replicas, restarts), `service_deps.rs`,
//! `service_probes.rs` and `service_control.rs` (start/stop/restart); for jobs:
//! `job_life.rs` (the lifecycle and its one transition), `job.rs`,
//! `table.rs` (live jobs and their index), `queue.rs` + `ranked.rs` (pools,
//! O(log n) positions), `submit.rs`, `admission.rs` with `ledger.rs` and
//! `request.rs` (who may start), `job_runs.rs` (a run from admission to its
//! end), `retry.rs` (how an end leaves the job), `job_control.rs` (timers,
//! stop, cancel), `recover.rs`; `commit.rs` (the ordered pipeline of store
//! writes) and `views.rs` (what the API sees).
//!
//! Invariant: nothing here blocks. Spawning happens on the sandbox's spawner
//! thread, SQLite writes on the store's writer thread; this task only decides.

mod admission;
mod commit;
mod job;
mod job_control;
mod job_life;
mod job_runs;
mod ledger;
mod queue;
mod ranked;
mod recover;
mod request;
mod retry;
mod service_control;
mod service_deps;
mod service_probes;
mod services;
mod shutdown;
mod submit;
mod table;
mod timers;
pub mod views;

use crate::command::Command;
use crate::launcher::{Launcher, RunEvent};
use crate::probe::ProbeResult;
use commit::Commits;
use queue::Pool;
use services::Service;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use stockade_proto::{Event, HostSnapshot, JobId, RunId, UnixMillis};
use stockade_spec::Spec;
use stockade_store::Store;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use crate::handle::EngineHandle;
pub use admission::HostSample;

/// How many events a slow subscriber may fall behind before it is told it lagged.
const EVENT_BUFFER: usize = 4096;

/// Reads the host at the moment of a death, for post-mortems.
pub type HostSnapshotFn = Arc<dyn Fn() -> HostSnapshot + Send + Sync>;

/// What the engine needs to run.
pub struct EngineConfig {
    /// The validated spec.
    pub spec: Arc<Spec>,
    /// The open store.
    pub store: Store,
    /// Starts and stops boxes.
    pub launcher: Box<dyn Launcher>,
    /// The box backend, for status (`cgroup v1`, ...).
    pub sandbox: String,
    /// Warnings about the box backend.
    pub sandbox_warnings: Vec<String>,
    /// Takes a host snapshot for post-mortems.
    pub host_snapshot: HostSnapshotFn,
    /// Readings of the host for admission and adaptive limits (`None`:
    /// admit by pool limits alone).
    pub host_samples: Option<mpsc::UnboundedReceiver<HostSample>>,
}

/// Who a live run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Replica { service: usize, replica: u32 },
    Job(JobId),
}

/// The engine's state. Built by [`start`], driven by [`Engine::run`].
pub struct Engine {
    spec: Arc<Spec>,
    store: Store,
    launcher: Box<dyn Launcher>,
    sandbox: String,
    sandbox_warnings: Vec<String>,
    host_snapshot: HostSnapshotFn,
    started_at: UnixMillis,
    box_counter: u64,
    services: Vec<Service>,
    runs: HashMap<RunId, Owner>,
    jobs: table::JobTable,
    pools: BTreeMap<String, Pool>,
    commands: mpsc::Receiver<Command>,
    run_tx: mpsc::UnboundedSender<RunEvent>,
    run_rx: mpsc::UnboundedReceiver<RunEvent>,
    probe_tx: mpsc::UnboundedSender<ProbeResult>,
    probe_rx: mpsc::UnboundedReceiver<ProbeResult>,
    commits: Commits,
    events: broadcast::Sender<Event>,
    shutdown: Option<shutdown::Shutdown>,
    host_samples: mpsc::UnboundedReceiver<HostSample>,
    /// The last host sample, and what admitted jobs hold against it.
    ledger: ledger::Ledger,
    /// What a run of each job template is counted for at admission.
    requests: request::Requests,
    stats: crate::EngineStats,
    timers: timers::Timers,
}

/// Build the engine, recover jobs from the store, and start its task.
pub fn start(config: EngineConfig) -> Result<(EngineHandle, JoinHandle<()>), crate::EngineError> {
    let (cmd_tx, commands) = mpsc::channel(1024);
    let (events, _) = broadcast::channel(EVENT_BUFFER);
    let (run_tx, run_rx) = mpsc::unbounded_channel();
    let (probe_tx, probe_rx) = mpsc::unbounded_channel();
    let services = config.spec.services.iter().cloned().map(Service::new).collect();
    let pools = queue::pools_from_spec(&config.spec);
    let mut engine = Engine {
        spec: config.spec,
        store: config.store.clone(),
        launcher: config.launcher,
        sandbox: config.sandbox,
        sandbox_warnings: config.sandbox_warnings,
        host_snapshot: config.host_snapshot,
        started_at: stockade_proto::now_millis(),
        box_counter: 0,
        services,
        runs: HashMap::new(),
        jobs: table::JobTable::default(),
        pools,
        commands,
        run_tx,
        run_rx,
        probe_tx,
        probe_rx,
        commits: Commits::new(config.store),
        events: events.clone(),
        shutdown: None,
        host_samples: config.host_samples.unwrap_or_else(|| mpsc::unbounded_channel().1),
        ledger: ledger::Ledger::default(),
        requests: request::Requests::default(),
        stats: crate::EngineStats::default(),
        timers: timers::Timers::default(),
    };
    engine.recover()?;
    let handle = EngineHandle { commands: cmd_tx, events };
    let task = tokio::spawn(engine.run());
    Ok((handle, task))
}

impl Engine {
    /// The loop. Ends after a shutdown command once every box is empty and
    /// every write is committed.
    pub async fn run(mut self) {
        self.reconcile();
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                Some(command) = self.commands.recv() => self.on_command(command),
                Some(event) = self.run_rx.recv() => self.on_run_event(event),
                Some(result) = self.probe_rx.recv() => self.on_probe(result),
                Some(sample) = self.host_samples.recv() => self.on_host_sample(sample),
                Some(done) = self.commits.next(), if !self.commits.is_empty() => {
                    self.on_commit(done)
                }
                _ = sleep_until(deadline), if deadline.is_some() => {}
            }
            self.reconcile();
            if self.shutdown_finished() {
                break;
            }
        }
    }

    /// Bring everything toward where it should be: start what may start,
    /// admit what fits, stop what must stop. Called after every wake-up.
    fn reconcile(&mut self) {
        let now = Instant::now();
        self.on_timers(now);
        if self.shutdown.is_some() {
            self.drive_shutdown();
        } else {
            self.start_services(now);
            self.admit_jobs(now);
        }
    }

    /// The earliest moment something is due.
    fn next_deadline(&self) -> Option<Instant> {
        let services = self.services.iter().filter_map(Service::next_deadline);
        services.chain(self.timers.next()).min()
    }

    /// Due timers. Services have none: backoff expiry and launch retries are
    /// picked up by `start_services`, probes run on their own tasks.
    fn on_timers(&mut self, now: Instant) {
        self.job_timers(now);
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => self.reply_status(reply),
            Command::Service { name, action, reply } => {
                let _ = reply.send(self.service_action(&name, action));
            }
            Command::Submit { requests, reply } => self.submit(requests, reply),
            Command::Job { id, reply } => match self.job_view_by_id(id) {
                Ok(view) => self.with_usage(vec![view], move |mut views| {
                    let one = views.pop().ok_or(crate::EngineError::UnknownJob { id });
                    answer(reply, one);
                }),
                Err(e) => answer(reply, Err(e)),
            },
            Command::Jobs { filter, before, reply } => {
                let page = self.job_page(&filter, before);
                let (next, total) = (page.next, page.total);
                self.with_usage(page.jobs, move |jobs| {
                    answer(reply, Ok(crate::JobPage { jobs, next, total }));
                });
            }
            Command::Cancel { id, reply } => self.cancel(id, reply),
            Command::Queue(reply) => {
                let _ = reply.send(Ok(self.pool_views()));
            }
            Command::Laggards(reply) => {
                let _ = reply.send(Ok(self.laggards()));
            }
            Command::Stats(reply) => answer(reply, Ok(self.stats.clone())),
            Command::Record { unit, kind, reply } => {
                self.persist(vec![stockade_store::Write::Event { unit, kind }]);
                answer(reply, Ok(()));
            }
            Command::Shutdown(reply) => self.begin_shutdown(reply),
        }
    }

    fn on_run_event(&mut self, event: RunEvent) {
        match self.runs.get(&event.run).copied() {
            Some(Owner::Replica { service, replica }) => {
                self.replica_run_event(service, replica, event)
            }
            Some(Owner::Job(job)) => self.job_run_event(job, event),
            None => tracing::warn!(run = %event.run, "event for an unknown run: {:?}", event.kind),
        }
    }

    fn on_probe(&mut self, result: ProbeResult) {
        if let Some(Owner::Replica { service, replica }) = self.runs.get(&result.run).copied() {
            self.replica_probe(service, replica, result);
        }
    }

    /// A box name unique across daemon restarts: `<unit>.<instance>.<boot>-<n>`.
    fn box_name(&mut self, unit: &str, instance: &str) -> String {
        self.box_counter += 1;
        format!("{unit}.{instance}.{}-{}", self.started_at, self.box_counter)
    }

    fn log_target(&self, file: &str) -> crate::launcher::LogTarget {
        let daemon = &self.spec.daemon;
        crate::launcher::LogTarget {
            path: daemon.state_dir.join("logs").join(file),
            max_size: daemon.log_max_size,
            keep: daemon.log_keep,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Tell a reply channel the answer, ignoring a caller that went away.
fn answer<T>(reply: oneshot::Sender<T>, value: T) {
    let _ = reply.send(value);
}
