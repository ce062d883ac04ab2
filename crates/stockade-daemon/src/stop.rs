//! Planned stops: what ends [`crate::run_with`] and how.
//!
//! Whoever runs the daemon (the CLI's signal handlers, `POST
//! /api/daemon/shutdown`, a test) sends [`Stop`]s through a [`Stopper`]. The
//! first one decides the stop; while it is under way a [`Stop::Force`] (a
//! second Ctrl-C) kills every box at once, skipping the graces.
//!
//! - [`Stop::Now`]: stop services in reverse dependency order; running jobs
//!   are stopped and requeued, or left running for the next daemon to adopt
//!   (`[daemon] on_stop = "leave"`).
//! - [`Stop::Drain`]: admit nothing new (submissions get a 503 `draining`),
//!   let running jobs finish for up to the grace, then as `Now`.
//! - [`Stop::Upgrade`]: leave every box running, flush the store, release the
//!   lock and the socket; the caller then `execve`s the binary on disk.

use std::time::Duration;
use stockade_engine::{EngineHandle, ShutdownReport};
use stockade_proto::JobState;
use stockade_sandbox::Sandbox;
use stockade_store::{JobFilter, Store};
use tokio::sync::mpsc;

/// How often a drain checks whether the running jobs have finished.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// A request to stop the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Stop now (SIGTERM, the first Ctrl-C, `stockade down`).
    Now,
    /// Admit nothing new; let running jobs finish for up to this long; then stop.
    Drain(Duration),
    /// Kill every box now and skip the graces (a second Ctrl-C).
    Force,
    /// Leave every box running and return so the caller can exec the new binary.
    Upgrade,
}

impl From<()> for Stop {
    fn from((): ()) -> Stop {
        Stop::Now
    }
}

/// Sends [`Stop`]s — and reload requests (SIGHUP) — to a running daemon.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Stopper {
    tx: mpsc::UnboundedSender<Stop>,
    reload_tx: mpsc::UnboundedSender<()>,
}

impl Stopper {
    /// Ask the daemon to stop; `false` if it already ended.
    pub fn stop(&self, stop: Stop) -> bool {
        self.tx.send(stop).is_ok()
    }

    /// Ask the daemon to reload its spec file (as `stockade reload`); the
    /// plan or the error goes to its log. `false` if it already ended.
    pub fn reload(&self) -> bool {
        self.reload_tx.send(()).is_ok()
    }
}

/// The receiving end, given to [`crate::run_with`].
#[derive(Debug)]
pub struct Stops {
    rx: mpsc::UnboundedReceiver<Stop>,
    /// Kept so the API can hand out stoppers of its own.
    tx: mpsc::UnboundedSender<Stop>,
    reload_tx: mpsc::UnboundedSender<()>,
    /// Taken by the daemon's reload task.
    reloads: Option<mpsc::UnboundedReceiver<()>>,
}

impl Stops {
    pub(crate) fn stopper(&self) -> Stopper {
        Stopper { tx: self.tx.clone(), reload_tx: self.reload_tx.clone() }
    }

    /// The reload requests (once).
    pub(crate) fn take_reloads(&mut self) -> Option<mpsc::UnboundedReceiver<()>> {
        self.reloads.take()
    }

    pub(crate) async fn next(&mut self) -> Stop {
        // `self.tx` keeps the channel open, so this never ends with `None`.
        self.rx.recv().await.unwrap_or(Stop::Now)
    }
}

/// A stopper and the stops it sends.
pub fn stop_channel() -> (Stopper, Stops) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (reload_tx, reloads) = mpsc::unbounded_channel();
    let stopper = Stopper { tx: tx.clone(), reload_tx: reload_tx.clone() };
    (stopper, Stops { rx, tx, reload_tx, reloads: Some(reloads) })
}

/// How the daemon ended.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// What the engine stopped, requeued and left.
    pub report: ShutdownReport,
    /// It stopped for an upgrade: the caller should exec the binary on disk.
    pub upgrade: bool,
    /// A [`Stop::Force`] killed the boxes without their graces.
    pub forced: bool,
    /// A drain's grace ran out with jobs still running (they were then
    /// stopped and requeued, or left, as a plain stop does).
    pub drain_expired: bool,
}

/// Wait until no job runs, for up to `grace`; a `Force` or `Now` meanwhile
/// ends the wait early. Returns the stop that ended it, if any, and whether
/// the grace ran out.
pub(crate) async fn drain(
    engine: &EngineHandle,
    stops: &mut Stops,
    grace: Duration,
) -> (Option<Stop>, bool) {
    if let Err(err) = engine.drain().await {
        tracing::warn!(%err, "could not start draining; stopping now");
        return (None, false);
    }
    tracing::info!(grace_secs = grace.as_secs_f64(), "draining: running jobs may finish");
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        let running = engine
            .jobs(JobFilter {
                states: vec![JobState::Running],
                limit: Some(1),
                ..JobFilter::default()
            })
            .await
            .map(|jobs| jobs.len())
            .unwrap_or(0);
        if running == 0 {
            tracing::info!("drained: no job is running");
            return (None, false);
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!("the drain's grace ran out with jobs still running");
                return (None, true);
            }
            () = tokio::time::sleep(DRAIN_POLL) => {}
            stop = stops.next() => match stop {
                Stop::Force | Stop::Now => return (Some(stop), false),
                Stop::Drain(_) | Stop::Upgrade => {}
            },
        }
    }
}

/// Kill every process of every box the store holds open, now: each watcher
/// then sees its run end and the engine's shutdown completes at once.
pub(crate) async fn force(store: &Store, sandbox: &Sandbox) {
    let store = store.clone();
    let sandbox = sandbox.clone();
    let killed = tokio::task::spawn_blocking(move || {
        let mut killed = 0u32;
        for run in store.open_runs().unwrap_or_default() {
            for pid in sandbox.live_pids(&run.box_name).unwrap_or_default() {
                // SAFETY: kill(2) on a pid just read from a box stockade made.
                if unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0 {
                    killed += 1;
                }
            }
        }
        killed
    })
    .await
    .unwrap_or(0);
    tracing::warn!(killed, "forced stop: every box killed without its grace");
}
