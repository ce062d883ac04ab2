//! [`SandboxLauncher`]: the real [`Launcher`], over `stockade-sandbox`.
//!
//! Each run gets one small watcher task that owns its [`Agent`]: it reports
//! the spawn, rotates the log (the agent writes it itself, see
//! [`crate::log_file`]), forwards OOM notifications the moment the kernel
//! raises them, answers usage requests, carries out a stop, and when the
//! main process is gone calls [`Agent::finish`] (kill leftovers, read
//! evidence, classify, remove the box) and reports the exit. The engine
//! talks to it over a control channel and never waits on it. A run adopted
//! from an earlier daemon ([`Launcher::adopt`]) gets the same watcher.

use crate::launcher::{
    AdoptRequest, Exit, LaunchRequest, Launcher, LogTarget, RunEvent, RunEventKind, StopReason,
    StopRequest,
};
use crate::log_file;
use crate::logs;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use stockade_host::{HostFacts, HostRoot};
use stockade_proto::{Limits, RunId, Usage};
use stockade_sandbox::{
    AdoptSpec, Agent, AgentEvent, BindMount, BoxUser, EndReason, EnvMode, Identity, Network,
    Output, ParentDeath, Sandbox, SpawnSpec, WaitError, Walls,
};
use stockade_spec::{Isolation, NetworkMode, UserSpec, WallsSpec};
use tokio::sync::{mpsc, oneshot};

/// How long to wait for the output pipes to drain after the box is empty.
const DRAIN: Duration = Duration::from_secs(2);
/// How often a watcher checks its run's log for rotation.
const ROTATE_EVERY: Duration = Duration::from_secs(1);

/// Starts runs in real boxes.
pub struct SandboxLauncher {
    sandbox: Sandbox,
    parent_death: ParentDeath,
    host: HostRoot,
    site: WallsSite,
    runs: HashMap<RunId, mpsc::UnboundedSender<Control>>,
}

/// Where walled boxes keep what outlives them, and what they must not see.
#[derive(Debug, Clone, Default)]
pub struct WallsSite {
    /// The parent of every box's workspace: `<state_dir>/workspaces`. Each
    /// box gets `<workspaces>/<box name>` (its `/workspace`, kept after death
    /// for the post-mortem) and the init's exit record beside it.
    pub workspaces: PathBuf,
    /// Host paths no box may see: the daemon's state dir (store, logs, token,
    /// other boxes' workspaces).
    pub hide: Vec<PathBuf>,
}

impl WallsSite {
    /// The site for a daemon whose state lives in `state_dir`.
    pub fn in_state_dir(state_dir: &Path) -> WallsSite {
        WallsSite { workspaces: state_dir.join("workspaces"), hide: vec![state_dir.to_path_buf()] }
    }

    /// The sandbox's walls for `isolation`, for the box `box_name`.
    fn walls(&self, isolation: &Isolation, box_name: &str) -> Option<Walls> {
        let Isolation::Walls(spec) = isolation else { return None };
        let WallsSpec { user, network, rootfs, tmp, mounts } = spec;
        let mut walls = Walls::new(self.workspaces.join(box_name));
        walls.user = user.as_ref().map(|user| match user {
            UserSpec::Name(name) => BoxUser::Name(name.clone()),
            UserSpec::Id(id) => BoxUser::Id { uid: *id, gid: *id },
        });
        walls.network = match network {
            NetworkMode::Host => Network::Host,
            NetworkMode::None => Network::None,
        };
        walls.rootfs = rootfs.clone();
        walls.tmp_size = *tmp;
        walls.mounts = mounts
            .iter()
            .map(|m| BindMount {
                source: m.source.clone(),
                target: m.target.clone(),
                read_only: m.read_only,
            })
            .collect();
        walls.hide = self.hide.clone();
        walls.hostname = box_name.split('.').next().unwrap_or("box").to_string();
        Some(walls)
    }
}

enum Control {
    Stop(StopRequest),
    Usage(oneshot::Sender<Usage>),
    SetLimits(Limits, oneshot::Sender<Result<(), String>>),
}

impl SandboxLauncher {
    /// A launcher over `sandbox`; `parent_death` says whether agents die
    /// with the daemon; `host` is read for snapshots at death.
    pub fn new(sandbox: Sandbox, parent_death: ParentDeath, host: HostRoot) -> SandboxLauncher {
        SandboxLauncher {
            sandbox,
            parent_death,
            host,
            site: WallsSite::default(),
            runs: HashMap::new(),
        }
    }

    /// Walled boxes keep their workspaces and hide paths as `site` says.
    pub fn with_site(mut self, site: WallsSite) -> SandboxLauncher {
        self.site = site;
        self
    }
}

impl Launcher for SandboxLauncher {
    fn launch(&mut self, request: LaunchRequest, events: mpsc::UnboundedSender<RunEvent>) {
        let (control, rx) = mpsc::unbounded_channel();
        self.runs.insert(request.run, control);
        let walls = self.site.walls(&request.isolation, &request.box_name);
        let run = Run {
            sandbox: self.sandbox.clone(),
            parent_death: self.parent_death,
            host: self.host.clone(),
            walls,
        };
        tokio::spawn(watch(run, request, events, rx));
    }

    fn stop(&mut self, run: RunId, request: StopRequest) {
        if let Some(control) = self.runs.get(&run) {
            let _ = control.send(Control::Stop(request));
        }
    }

    fn usage(&mut self, run: RunId, reply: oneshot::Sender<Usage>) {
        if let Some(control) = self.runs.get(&run) {
            let _ = control.send(Control::Usage(reply));
        }
    }

    fn set_limits(
        &mut self,
        run: RunId,
        limits: Limits,
        reply: oneshot::Sender<Result<(), String>>,
    ) {
        if let Some(control) = self.runs.get(&run) {
            let _ = control.send(Control::SetLimits(limits, reply));
        }
    }

    fn forget(&mut self, run: RunId) {
        self.runs.remove(&run);
    }

    /// Blocks (kill passes and `rmdir` retries, up to seconds): only the
    /// engine's recovery calls it, which the daemon runs on the blocking pool.
    fn reclaim(&mut self, box_name: &str) -> Result<u32, String> {
        let pids = self.sandbox.live_pids(box_name).map_err(|e| e.to_string())?;
        self.sandbox.remove_stale(box_name).map_err(|e| e.to_string())?;
        Ok(pids.len() as u32)
    }

    fn adopt(
        &mut self,
        request: AdoptRequest,
        events: mpsc::UnboundedSender<RunEvent>,
    ) -> Result<u32, String> {
        // No pid: the daemon died between the spawn and the pid's journal;
        // the sandbox finds the box's main process in its cgroup.
        let pid = request.pid.unwrap_or(0);
        let exit_record =
            self.site.walls(&request.isolation, &request.box_name).map(|w| w.exit_record_path());
        let running_for =
            Duration::from_millis(stockade_proto::now_millis().saturating_sub(request.started_at));
        let spec = AdoptSpec {
            box_name: request.box_name.clone(),
            identity: Identity { pid, started_at_ms: request.started_at },
            exit_record,
            limits: request.limits.clone(),
            running_for,
        };
        let agent = self.sandbox.adopt(spec).map_err(|e| e.to_string())?;
        let pid = if agent.pid() != 0 { agent.pid() } else { pid };
        let (control, rx) = mpsc::unbounded_channel();
        self.runs.insert(request.run, control);
        let log = match log_file::open(&request.log) {
            Ok(file) => Some(file),
            Err(err) => {
                tracing::warn!(run = %request.run, path = %request.log.path.display(), %err, "cannot open the adopted run's log; it is not rotated");
                None
            }
        };
        let watched = Watched {
            run: request.run,
            log_target: request.log,
            log,
            log_start: 0,
            pump: None,
            host: self.host.clone(),
        };
        tokio::spawn(follow(agent, watched, events, rx));
        Ok(pid)
    }
}

/// A started run, as its watcher follows it.
struct Watched {
    run: RunId,
    log_target: LogTarget,
    /// The log the agent writes itself (`None`: it could not be opened).
    log: Option<File>,
    /// Where this run's output starts in the live log (its earlier runs'
    /// lines stay before it); 0 for an adopted run, whose start is unknown.
    log_start: u64,
    /// Pipes copied into memory when the log could not be opened.
    pump: Option<tokio::task::JoinHandle<(logs::Tail, Option<std::io::Error>)>>,
    host: HostRoot,
}

/// What a watcher needs besides the request.
struct Run {
    sandbox: Sandbox,
    parent_death: ParentDeath,
    host: HostRoot,
    walls: Option<Walls>,
}

async fn watch(
    Run { sandbox, parent_death, host, walls }: Run,
    request: LaunchRequest,
    events: mpsc::UnboundedSender<RunEvent>,
    control: mpsc::UnboundedReceiver<Control>,
) {
    let run = request.run;
    let send = |kind| {
        let _ = events.send(RunEvent { run, kind });
    };
    // Opening (creating) the log and reading its length touch the state
    // directory's filesystem, which may wait on its journal: on the
    // blocking pool. Where this run's lines begin is read before the spawn,
    // since the agent may write (and even exit) before `spawn` returns.
    let target = request.log.clone();
    let opened = tokio::task::spawn_blocking(move || {
        log_file::open(&target).map(|file| {
            let start = file.metadata().map_or(0, |m| m.len());
            (file, start)
        })
    })
    .await
    .unwrap_or_else(|err| Err(std::io::Error::other(err)));
    let (log, log_start) = match opened {
        Ok((file, start)) => (Some(file), start),
        Err(err) => {
            tracing::warn!(%run, path = %request.log.path.display(), %err, "cannot write the run's log; output is kept only in memory");
            (None, 0)
        }
    };
    let output = log.as_ref().and_then(|f| f.try_clone().ok()).map(|f| Output(Arc::new(f.into())));
    let spec = SpawnSpec {
        box_name: request.box_name.clone(),
        argv: request.argv,
        // The engine built the whole environment (`box_environment`): the
        // daemon's own reaches the box only where the unit asked for it.
        env: request.env,
        env_mode: EnvMode::Clear,
        cwd: request.cwd,
        limits: request.limits,
        parent_death,
        walls,
        output,
    };
    let mut agent = match sandbox.spawn(spec).await {
        Ok(agent) => agent,
        Err(err) => {
            tracing::warn!(%run, box_name = %request.box_name, %err, "spawn failed");
            // The sandbox named the limit behind an EAGAIN itself, at the
            // moment of the failure (`stockade_linux::eagain`).
            send(RunEventKind::SpawnFailed { cause: err.cause() });
            return;
        }
    };
    send(RunEventKind::Started { pid: agent.pid() });
    // Pipes only when the log could not be given to the agent: then its
    // output is read into memory for the post-mortem and not kept.
    let pump = (log.is_none())
        .then(|| tokio::spawn(logs::pump(agent.take_stdout(), agent.take_stderr(), None)));
    let watched = Watched { run, log_target: request.log, log, log_start, pump, host };
    follow(agent, watched, events, control).await;
}

/// Follow a started (or adopted) run to its end and report the exit.
async fn follow(
    mut agent: Agent,
    watched: Watched,
    events: mpsc::UnboundedSender<RunEvent>,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let Watched { run, log_target, log, log_start, pump, host } = watched;
    let log_start = Arc::new(std::sync::atomic::AtomicU64::new(log_start));
    let log = log.map(Arc::new);
    let send = |kind| {
        let _ = events.send(RunEvent { run, kind });
    };
    // On a blocking thread: the collapse writes the file's dirty pages back
    // first (hundreds of MB behind a fast writer), which must not stall a
    // runtime worker.
    let rotate = || {
        let (log, target, log_start) = (log.clone(), log_target.clone(), log_start.clone());
        async move {
            let Some(file) = log else { return };
            let path = target.path.clone();
            let rotated =
                tokio::task::spawn_blocking(move || log_file::rotate_if_full(&file, &target)).await;
            match rotated {
                Ok(Ok(cut)) => {
                    let _ =
                        log_start.fetch_update(Relaxed, Relaxed, |at| Some(at.saturating_sub(cut)));
                }
                Ok(Err(err)) => {
                    tracing::warn!(%run, path = %path.display(), %err, "could not rotate the run's log")
                }
                Err(err) => tracing::warn!(%run, %err, "the log rotation task failed"),
            }
        }
    };
    let (status, reason, killed) = supervise(&mut agent, &mut control, &send, &rotate).await;
    // The host as it was at the death, for the post-mortem of an abnormal
    // end: read on a blocking thread while the box is finished (off the path
    // from death to event), and not at all for a clean exit or an asked-for
    // stop, which get no post-mortem (0.3 ms of CPU saved per job).
    let abnormal = match reason {
        EndReason::Exited => !status.as_ref().is_ok_and(|status| status.success()),
        EndReason::Stopped => false,
        EndReason::TimedOut | EndReason::LivenessFailed => true,
    };
    let snapshot =
        abnormal.then(|| tokio::task::spawn_blocking(move || HostFacts::read(&host).snapshot()));
    let death = agent.finish(status, reason).await;
    let tail = match (&log, pump) {
        (Some(file), _) => {
            rotate().await;
            // The tail is a file read: on the blocking pool too.
            let (file, from) = (file.clone(), log_start.load(Relaxed));
            tokio::task::spawn_blocking(move || log_file::tail(&file, from))
                .await
                .unwrap_or_default()
        }
        (None, Some(pump)) => match tokio::time::timeout(DRAIN, pump).await {
            Ok(Ok((tail, _))) => tail.into_log_tail(),
            _ => Default::default(),
        },
        (None, None) => Default::default(),
    };
    let host = match snapshot {
        Some(task) => task.await.ok(),
        None => None,
    };
    let exit = Exit { cause: death.cause, evidence: death.evidence, logs: tail, killed, host };
    send(RunEventKind::Exited(Box::new(exit)));
}

/// Wait for the main process, forwarding OOM kills and answering requests,
/// until it exits or a stop finishes. Returns its status (or why it could not be read), what stockade did,
/// and whether the box had to be killed.
async fn supervise<R>(
    agent: &mut Agent,
    control: &mut mpsc::UnboundedReceiver<Control>,
    send: &impl Fn(RunEventKind),
    rotate: &impl Fn() -> R,
) -> (Result<std::process::ExitStatus, WaitError>, EndReason, bool)
where
    R: std::future::Future<Output = ()>,
{
    let mut rotation = tokio::time::interval(ROTATE_EVERY);
    rotation.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = rotation.tick() => rotate().await,
            event = agent.next_event() => match event {
                AgentEvent::Exited(status) => {
                    // A failed wait stays an error: `finish` reports the
                    // status as unknown instead of a made-up SIGKILL.
                    if let Err(err) = &status {
                        tracing::error!(%err, "could not wait for the main process");
                    }
                    return (status, EndReason::Exited, false);
                }
                AgentEvent::OomKill(count) => send(RunEventKind::OomKill { count }),
            },
            message = control.recv() => match message {
                Some(Control::Usage(reply)) => {
                    let _ = reply.send(agent.usage());
                }
                Some(Control::SetLimits(limits, reply)) => {
                    let _ = reply.send(agent.set_limits(limits).map_err(|e| e.to_string()));
                }
                Some(Control::Stop(request)) => {
                    let outcome = agent.stop(request.signal, request.grace).await;
                    let reason = match request.reason {
                        StopReason::Asked => EndReason::Stopped,
                        StopReason::Timeout => EndReason::TimedOut,
                        StopReason::Liveness => EndReason::LivenessFailed,
                    };
                    return (outcome.status, reason, outcome.killed);
                }
                // The engine forgot the run; keep watching until it exits.
                None => {
                    return (agent.wait().await, EndReason::Exited, false);
                }
            },
        }
    }
}
