//! [`Engine`]: the one task that owns every mutable thing in the daemon.
//!
//! Start reading at [`Engine::step`]: one input (a command, a run event, a
//! probe result, a host sample, a commit result, or a tick of time) in, the
//! effects to perform out (persist with a follow-up, launch, stop, read
//! usage, forget, publish). `shell.rs` is the one task: a `select!` over the
//! inputs that performs the effects and decides nothing. Handlers live in
//! `services.rs` (replicas, restarts), `service_deps.rs`, `service_probes.rs`
//! and `service_control.rs` (start/stop/restart), `service_scale.rs` and
//! `service_overrides.rs` (what a scale or a stop leaves for the next
//! daemon); for jobs: `job_life.rs`
//! (the lifecycle and its one transition), `job.rs`, `table.rs` (live jobs
//! and their index), `queue.rs` + `ranked.rs` (pools, O(log n) positions),
//! `submit.rs`, `admission.rs` with `ledger.rs` and `request.rs` (who may
//! start), `job_runs.rs` (a run from admission to its end), `retry.rs` (how
//! an end leaves the job), `job_control.rs` (timers, stop, cancel),
//! `recover.rs`; `reload.rs` (a new spec, planned and applied); `commit.rs` (the ordered pipeline of store writes) and
//! `views.rs` (what the API sees).
//!
//! Invariant: nothing here blocks. Spawning happens on the sandbox's spawner
//! thread, SQLite writes on the store's writer thread; the engine only
//! decides. `host_snapshot` is called inline when a death arrives without
//! the launcher's snapshot; the daemon's returns its sampler's newest read
//! (no I/O), so no `/proc` read happens on this task.

mod admission;
mod commit;
mod effect;
mod job;
mod job_control;
mod job_life;
mod job_runs;
mod ledger;
mod queue;
mod ranked;
mod recover;
mod reload;
mod request;
mod retry;
mod schedules;
mod service_control;
mod service_deps;
mod service_overrides;
mod service_probes;
mod service_scale;
mod services;
mod shell;
mod shutdown;
mod submit;
mod table;
mod timers;
pub mod views;

use crate::command::Command;
use crate::launcher::{Launcher, RunEvent};
use crate::probe::ProbeResult;
use queue::Pool;
use services::Service;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use stockade_proto::{HostSnapshot, JobId, RunId, UnixMillis};
use stockade_spec::Spec;
use stockade_store::Store;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use crate::handle::EngineHandle;
pub use admission::HostSample;
pub use commit::{Done, Followup};
pub use effect::{Effect, Input};

/// How many events a slow subscriber may fall behind before it is told it lagged.
const EVENT_BUFFER: usize = 4096;

/// The wall clock schedules are read on (tests pass a hand-moved one).
pub type WallClock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

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

/// The engine's state and decisions. Built by [`start`], driven by
/// `Engine::step` (the shell in `shell.rs` feeds it and performs what it asks).
pub struct Engine {
    spec: Arc<Spec>,
    sandbox: String,
    sandbox_warnings: Vec<String>,
    host_snapshot: HostSnapshotFn,
    started_at: UnixMillis,
    box_counter: u64,
    services: Vec<Service>,
    runs: HashMap<RunId, Owner>,
    jobs: table::JobTable,
    pools: BTreeMap<String, Pool>,
    shutdown: Option<shutdown::Shutdown>,
    /// Draining before a planned stop: nothing new is admitted.
    draining: bool,
    /// The last host sample, and what admitted jobs hold against it.
    ledger: ledger::Ledger,
    /// What a run of each job template is counted for at admission.
    requests: request::Requests,
    stats: crate::EngineStats,
    timers: timers::Timers,
    /// Job templates with `every` or `cron`.
    schedules: schedules::Schedules,
    /// The wall clock schedules fire on.
    clock: WallClock,
    /// What the current step asks for.
    effects: Vec<Effect>,
    /// Persist effects whose commit has not come back yet.
    pending_commits: usize,
    /// Why facts are not recorded yet, while the pipeline retries them.
    unrecorded: std::sync::Arc<commit::Unrecorded>,
}

/// Build the engine, recover jobs from the store, and start its task.
pub fn start(config: EngineConfig) -> Result<(EngineHandle, JoinHandle<()>), crate::EngineError> {
    let (cmd_tx, commands) = mpsc::channel(1024);
    let (events, _) = broadcast::channel(EVENT_BUFFER);
    let mut engine =
        Engine::new(config.spec, config.sandbox, config.sandbox_warnings, config.host_snapshot);
    let mut launcher = config.launcher;
    let (run_tx, run_rx) = mpsc::unbounded_channel();
    engine.recover(&config.store, launcher.as_mut(), &run_tx)?;
    let shell = shell::Shell::new(shell::Parts {
        store: config.store,
        launcher,
        runs: (run_tx, run_rx),
        commands,
        host_samples: config.host_samples.unwrap_or_else(|| mpsc::unbounded_channel().1),
        events: events.clone(),
    });
    let handle = EngineHandle { commands: cmd_tx, events };
    let task = tokio::spawn(shell.run(engine));
    Ok((handle, task))
}

impl Engine {
    /// An engine for `spec` with nothing live yet.
    pub fn new(
        spec: Arc<Spec>,
        sandbox: String,
        sandbox_warnings: Vec<String>,
        host_snapshot: HostSnapshotFn,
    ) -> Engine {
        let services = spec.services.iter().cloned().map(Service::new).collect();
        let pools = queue::pools_from_spec(&spec);
        let schedules = schedules::from_spec(&spec);
        let mut engine = Engine {
            spec,
            sandbox,
            sandbox_warnings,
            host_snapshot,
            started_at: stockade_proto::now_millis(),
            box_counter: 0,
            services,
            runs: HashMap::new(),
            jobs: table::JobTable::default(),
            pools,
            shutdown: None,
            draining: false,
            ledger: ledger::Ledger::default(),
            requests: request::Requests::default(),
            stats: crate::EngineStats::default(),
            timers: timers::Timers::default(),
            schedules,
            clock: Arc::new(stockade_proto::now_millis),
            effects: Vec::new(),
            pending_commits: 0,
            unrecorded: std::sync::Arc::default(),
        };
        engine.resume_schedules(&BTreeMap::new(), &[]);
        engine
    }

    /// Read schedules on `clock` instead of the system's wall clock (tests),
    /// placing every schedule at its time as if nothing had ever fired.
    pub fn with_clock(mut self, clock: WallClock) -> Engine {
        self.clock = clock;
        self.resume_schedules(&BTreeMap::new(), &[]);
        self
    }

    /// Take one input, decide, and return what must be done: the whole of
    /// the engine's behaviour. Every input is followed by a reconcile
    /// (timers, shutdown, starts and admissions).
    pub fn step(&mut self, input: Input) -> Vec<Effect> {
        match input {
            Input::Command(command) => self.on_command(command),
            Input::Run(event) => self.on_run_event(event),
            Input::Probe(result) => self.on_probe(result),
            Input::Host(sample) => self.on_host_sample(sample),
            Input::Committed(done) => self.on_commit(done),
            Input::Tick => {}
        }
        self.reconcile();
        std::mem::take(&mut self.effects)
    }

    /// True once a shutdown was asked for and nothing is left (every box
    /// empty, every write committed); the shutdown replies are sent.
    pub fn finished(&mut self) -> bool {
        self.shutdown_finished()
    }

    /// Bring everything toward where it should be: start what may start,
    /// admit what fits, stop what must stop. Called after every wake-up.
    fn reconcile(&mut self) {
        let now = Instant::now();
        self.on_timers(now);
        if self.shutdown.is_some() {
            self.drive_shutdown();
        } else {
            self.drive_reload();
            self.start_services(now);
            if !self.draining {
                self.admit_jobs(now);
            }
        }
    }

    /// The earliest moment something is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let services = self.services.iter().filter_map(Service::next_deadline);
        services.chain(self.timers.next()).chain(self.next_schedule_deadline()).min()
    }

    /// Due timers. Services have none: backoff expiry and launch retries are
    /// picked up by `start_services`, probes run on their own tasks.
    /// Schedules run on the wall clock (`schedules.rs`).
    fn on_timers(&mut self, now: Instant) {
        self.job_timers(now);
        self.schedule_timers();
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => self.reply_status(reply),
            Command::Service { name, action, replica, reply } => {
                let _ = reply.send(self.service_action(&name, action, replica));
            }
            Command::Scale { name, replicas, reply } => {
                let _ = reply.send(self.scale_service(&name, replicas));
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
            Command::Room(reply) => answer(reply, Ok(self.room())),
            Command::Schedules(reply) => answer(reply, Ok(self.schedule_views())),
            Command::Laggards(reply) => {
                let _ = reply.send(Ok(self.laggards()));
            }
            Command::Stats(reply) => answer(reply, Ok(self.stats.clone())),
            Command::Record { unit, kind, reply } => {
                self.persist(vec![stockade_store::Write::Event { unit, kind }]);
                answer(reply, Ok(()));
            }
            Command::Shutdown(reply) => self.begin_shutdown(Default::default(), reply),
            Command::ShutdownWith { plan, reply } => self.begin_shutdown(plan, reply),
            Command::Reload { spec, dry_run, reply } => self.reload(spec, dry_run, reply),
            Command::Drain(reply) => {
                if !self.draining {
                    tracing::info!("draining: admitting nothing new; running jobs go on");
                }
                self.draining = true;
                answer(reply, Ok(()));
            }
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

    /// Where a run starts: a walled box in its spec's `cwd` inside the box
    /// (`None`: the box's `/workspace`); an unwalled one in its `cwd` or the
    /// spec's directory, so `python3 agent.py` finds a script beside the spec.
    fn launch_cwd(
        &self,
        isolation: &stockade_spec::Isolation,
        cwd: Option<&std::path::PathBuf>,
    ) -> Option<std::path::PathBuf> {
        match isolation {
            stockade_spec::Isolation::Walls(_) => cwd.cloned(),
            stockade_spec::Isolation::None => {
                Some(cwd.cloned().unwrap_or_else(|| self.spec.base_dir.clone()))
            }
        }
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

/// Tell a reply channel the answer, ignoring a caller that went away.
fn answer<T>(reply: oneshot::Sender<T>, value: T) {
    let _ = reply.send(value);
}

#[cfg(test)]
mod reload_step_tests;
#[cfg(test)]
mod step_tests;

#[cfg(test)]
mod schedule_tests;
