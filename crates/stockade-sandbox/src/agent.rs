//! A live box and its main process: waiting, OOM notifications, usage,
//! stopping, and the post-mortem read when it is over ([`Agent::finish`]).
//!
//! The box outlives its main process: grandchildren may linger, and the
//! counters are read before the cgroup goes. So the end of a run is two steps:
//! `wait` (or `stop`) for the main process, then `finish` to kill leftovers,
//! read the evidence, classify, and remove the cgroup. An `Agent` dropped
//! without `finish` kills and removes its box in the background.
//!
//! For a walled box the main process is the box's init (pid 1 inside): its
//! wait returns the agent's exact status from the exit record, a stop
//! signals the init (which forwards to the agent's process group), and when
//! the init exits its pid namespace takes every leftover process with it.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stockade_proto::{Evidence, ExitCause, Limits, Usage};
use tokio::process::{ChildStderr, ChildStdout};

use crate::SandboxError;
use crate::backend::{Cgroup, Counters};
use crate::classify::{ClassifyInput, EndReason, classify};
use crate::main_proc::MainProc;
use crate::offload::offload;
use crate::oom_watch::{OomTracker, OomWatch};
use crate::wait_error::{WaitError, Waited};

/// How long killing a box may take before it is reported as not empty.
const KILL_DEADLINE: Duration = Duration::from_secs(10);
/// How long `rmdir` is retried while the kernel still counts reaped tasks.
const REMOVE_DEADLINE: Duration = Duration::from_secs(5);

/// One running agent in its box.
pub struct Agent {
    child: MainProc,
    pid: u32,
    box_name: String,
    /// `None` once `finish` has removed the box.
    cgroup: Option<Arc<dyn Cgroup>>,
    oom: OomTracker,
    baseline: Counters,
    pids_peak_sampled: AtomicU64,
    started: Instant,
    status: Option<ExitStatus>,
    limits: Limits,
    /// A walled box's id slot and exec registration, released with the box.
    walls: Option<crate::walls::BoxHold>,
    /// An adopted walled box's id slot, released with the box.
    adopted_ids: Option<crate::walls::ids::IdSlot>,
    /// An unwalled box's log relay, awaited by `finish` so the run's last
    /// lines are in the log before its tail is read.
    relay: Option<crate::relay::Relay>,
}

/// The parts of a new agent, from `Sandbox::spawn`.
pub(crate) struct AgentParts {
    pub(crate) child: MainProc,
    pub(crate) box_name: String,
    pub(crate) cgroup: Arc<dyn Cgroup>,
    pub(crate) oom: OomWatch,
    pub(crate) baseline: Counters,
    pub(crate) limits: Limits,
    pub(crate) walls: Option<crate::walls::BoxHold>,
    pub(crate) relay: Option<crate::relay::Relay>,
}

/// What [`Agent::next_event`] saw.
#[derive(Debug)]
pub enum AgentEvent {
    /// The main process exited, or waiting for it failed (its status is unknown).
    Exited(Result<ExitStatus, WaitError>),
    /// The box's OOM-kill count rose; the new count since the box was made.
    OomKill(u64),
}

/// How a stop went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopOutcome {
    /// The main process's exit status, or why it could not be read.
    pub status: Result<ExitStatus, WaitError>,
    /// True if the grace period ran out and the box had to be killed.
    pub killed: bool,
}

/// How a run ended and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    /// The cause.
    pub cause: ExitCause,
    /// The facts that decided it.
    pub evidence: Evidence,
}

impl Agent {
    pub(crate) fn new(parts: AgentParts) -> Agent {
        let pid = parts.child.pid();
        if pid != 0 {
            parts.cgroup.attach(pid);
        }
        Agent {
            child: parts.child,
            pid,
            box_name: parts.box_name,
            cgroup: Some(parts.cgroup),
            oom: OomTracker::new(parts.oom, parts.baseline.oom_kills.unwrap_or(0)),
            baseline: parts.baseline,
            pids_peak_sampled: AtomicU64::new(1),
            started: Instant::now(),
            status: None,
            limits: parts.limits,
            walls: parts.walls,
            adopted_ids: None,
            relay: parts.relay,
        }
    }

    /// An adopted agent whose box is already gone while its init's exit
    /// record holds the status: an earlier daemon saw the end, removed the
    /// box and died before the end reached the store. `finish` classifies
    /// the status alone (the box's counters went with it).
    pub(crate) fn box_gone(box_name: String, status: ExitStatus, limits: Limits) -> Agent {
        Agent {
            child: MainProc::Ended(status),
            pid: 0,
            box_name,
            cgroup: None,
            oom: OomTracker::new(OomWatch::Never, 0),
            baseline: Counters::default(),
            pids_peak_sampled: AtomicU64::new(1),
            started: Instant::now(),
            status: Some(status),
            limits,
            walls: None,
            adopted_ids: None,
            relay: None,
        }
    }

    /// An adopted agent: it has run for `running_for` already and holds
    /// `ids` (its walled box's id slot, when known).
    pub(crate) fn adopted(
        &mut self,
        running_for: Duration,
        ids: Option<crate::walls::ids::IdSlot>,
    ) {
        self.started = Instant::now().checked_sub(running_for).unwrap_or_else(Instant::now);
        self.adopted_ids = ids;
        if let MainProc::Ended(status) = self.child {
            self.status = Some(status);
        }
    }

    /// The main process's host pid: the agent's, or for a walled box its
    /// init's (pid 1 inside; the agent is its child). `Sandbox::exec` takes it.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The main process's status, if it has been seen to end (an adopted
    /// box whose agent ended while no daemon ran has it from the start).
    pub fn status_if_ended(&self) -> Option<ExitStatus> {
        self.status
    }

    /// The box's name.
    pub fn box_name(&self) -> &str {
        &self.box_name
    }

    /// The main process's stdout pipe (once).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.take_stdout()
    }

    /// The main process's stderr pipe (once).
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.take_stderr()
    }

    /// Wait for the main process to exit. Cancel-safe; returns the same
    /// status on every call after the exit.
    pub async fn wait(&mut self) -> Result<ExitStatus, WaitError> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let pid = self.child.pid();
        let status =
            self.child.wait().await.map_err(|err| WaitError::new(&self.box_name, pid, &err))?;
        self.status = Some(status);
        Ok(status)
    }

    /// Wait for whichever comes first: the main process exits, or the box's
    /// OOM-kill count rises. Cancel-safe. This is what a supervisor selects
    /// on: [`Agent::wait`] and [`Agent::oom_notified`] each borrow the agent
    /// mutably, so they cannot be raced against each other from outside.
    /// When both are ready the OOM kill comes first, so the event precedes
    /// the exit it caused.
    pub async fn next_event(&mut self) -> AgentEvent {
        if let Some(status) = self.status {
            return AgentEvent::Exited(Ok(status));
        }
        let Agent { child, oom, box_name, status, .. } = self;
        tokio::select! {
            biased;
            count = oom.next(box_name) => AgentEvent::OomKill(count),
            exited = child.wait() => {
                if let Ok(exit) = &exited {
                    *status = Some(*exit);
                }
                let pid = child.pid();
                AgentEvent::Exited(exited.map_err(|err| WaitError::new(box_name, pid, &err)))
            }
        }
    }

    /// Resolve when the box's OOM-kill count has risen above what was last
    /// reported, with the new count (kills since the box was made). Pending
    /// forever on the none backend. Cancel-safe.
    pub async fn oom_notified(&mut self) -> u64 {
        self.oom.next(&self.box_name).await
    }

    /// Usage now, from the box's own files.
    pub fn usage(&self) -> Usage {
        let c = self.cgroup.as_ref().map(|c| c.counters()).unwrap_or_default();
        if let Some(current) = c.pids_current {
            self.pids_peak_sampled.fetch_max(current, Ordering::Relaxed);
        }
        Usage {
            cpu_usec: c.cpu_usec,
            memory_current: c.memory_current,
            memory_peak: c.memory_peak,
            pids_current: c.pids_current,
            pids_peak: c
                .pids_peak
                .or(c.pids_current.map(|_| self.pids_peak_sampled.load(Ordering::Relaxed))),
        }
    }

    /// Write new cgroup limits to the live box (`stockade reload`); the
    /// processes keep running and the end is classified against them.
    /// rlimits stay as they were at spawn.
    pub fn set_limits(&mut self, limits: Limits) -> Result<(), SandboxError> {
        let Some(cgroup) = &self.cgroup else {
            return Err(SandboxError::BoxVanished {
                name: self.box_name.clone(),
                path: std::path::PathBuf::from(&self.box_name),
            });
        };
        cgroup.set_limits(&limits)?;
        self.limits.memory = limits.memory;
        self.limits.memory_high = limits.memory_high;
        self.limits.cpus = limits.cpus;
        self.limits.pids = limits.pids;
        Ok(())
    }

    /// Whether the box is walled (its main process is an init).
    pub fn is_walled(&self) -> bool {
        self.child.walled().is_some()
    }

    /// Send `signal` to the main process only; for a walled box that is the
    /// init, which forwards it to the agent's process group.
    pub fn signal_main(&self, signal: i32) -> Result<(), SandboxError> {
        match self.child.walled() {
            Some(init) => init.signal(signal).map_err(|e| {
                SandboxError::io("signal the init of", format!("box {}", self.box_name), e)
            }),
            None => self.signal_all(signal),
        }
    }

    /// Send `signal` to every process in the box.
    pub fn signal_all(&self, signal: i32) -> Result<(), SandboxError> {
        match &self.cgroup {
            Some(cgroup) => cgroup.signal(signal),
            None => Ok(()),
        }
    }

    /// Stop the agent: `signal` to every process in the box (walled: to the
    /// init, which forwards it to the agent's process group), then up to
    /// `grace` for the main process to exit *and* the box to empty, then kill
    /// the whole box. Returns only when the box is empty (or the kill gave up
    /// after 10 s, which is logged).
    pub async fn stop(&mut self, signal: i32, grace: Duration) -> StopOutcome {
        let sent =
            if self.is_walled() { self.signal_main(signal) } else { self.signal_all(signal) };
        if let Err(err) = sent {
            tracing::warn!(box_name = %self.box_name, %err, "could not signal the box");
        }
        let graceful = tokio::time::timeout(grace, async {
            let status = self.wait().await;
            self.until_empty().await;
            status
        })
        .await;
        if let Ok(Ok(status)) = graceful {
            return StopOutcome { status: Ok(status), killed: false };
        }
        if let Err(err) = self.kill_box().await {
            tracing::error!(box_name = %self.box_name, %err, "box did not empty after SIGKILL");
        }
        // Waiting on our own child only fails if the pidfd broke: then the
        // status is unknown and said so, not assumed to be the SIGKILL we sent.
        let status = self.wait().await;
        if let Err(err) = &status {
            tracing::error!(%err, "could not wait for the main process");
        }
        StopOutcome { status, killed: true }
    }

    /// Poll until the box holds no process; a vanished box counts as empty.
    async fn until_empty(&self) {
        let Some(cgroup) = &self.cgroup else { return };
        let mut delay = Duration::from_millis(1);
        while cgroup.procs().is_ok_and(|p| !p.is_empty()) {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// Kill passes until the box is empty.
    async fn kill_box(&self) -> Result<(), SandboxError> {
        match &self.cgroup {
            Some(cgroup) => kill_until_empty(cgroup, &self.box_name).await,
            None => Ok(()),
        }
    }

    /// End the run: kill whatever is left in the box (no grandchild
    /// survives), read the evidence, classify, and remove the cgroup.
    /// `status` is the main process's status from [`Agent::wait`] or
    /// [`Agent::stop`]; `reason` is what stockade did.
    pub async fn finish(mut self, status: impl Into<Waited>, reason: EndReason) -> Death {
        let Waited(status) = status.into();
        let mut notes = Vec::new();
        if let Err(err) = self.kill_box().await {
            notes.push(err.to_string());
        }
        // The main process must be reaped before rmdir can succeed.
        if self.status.is_none() {
            let _ = tokio::time::timeout(KILL_DEADLINE, self.wait()).await;
        }
        if let Some(relay) = self.relay.take() {
            relay.drained().await;
        }
        let counters = match self.cgroup.clone() {
            // memory.stat and friends: off the async worker with the rest.
            Some(c) => offload(move || Ok(c.counters())).await.unwrap_or_default(),
            None => Counters::default(),
        };
        notes.extend(counters.notes.iter().cloned());
        let rise = |now: Option<u64>, before: Option<u64>| {
            now.map(|n| n.saturating_sub(before.unwrap_or(0)))
        };
        let oom_kills = rise(counters.oom_kills, self.baseline.oom_kills);
        let pids_max_hits = rise(counters.pids_max_hits, self.baseline.pids_max_hits);
        let input = ClassifyInput {
            reason,
            exit_code: status.as_ref().ok().and_then(ExitStatus::code),
            signal: status.as_ref().ok().and_then(ExitStatus::signal),
            core_dumped: status.as_ref().is_ok_and(ExitStatus::core_dumped),
            oom_kills,
            pids_max_hits,
        };
        let (mut cause, mut decided_by) = classify(&input);
        if let Err(err) = &status {
            notes.push(err.to_string());
            if reason == EndReason::Exited {
                cause = ExitCause::Interrupted;
                decided_by = format!("{err}; what became of the run cannot be known");
            }
        }
        let sampled = self.pids_peak_sampled.load(Ordering::Relaxed);
        let evidence = Evidence {
            exit_code: input.exit_code,
            signal: input.signal,
            core_dumped: input.core_dumped,
            oom_kills,
            memory_max_hits: rise(counters.memory_max_hits, self.baseline.memory_max_hits),
            pids_max_hits,
            memory_peak: counters.memory_peak,
            memory_limit: counters.memory_limit.or(self.limits.memory),
            pids_peak: counters.pids_peak.or(counters.pids_limit.map(|_| sampled)),
            pids_limit: counters.pids_limit.or(self.limits.pids),
            cpu_usec: counters.cpu_usec,
            runtime_ms: Some(self.started.elapsed().as_millis() as u64),
            decided_by,
            notes,
        };
        if let Some(cgroup) = self.cgroup.take()
            && let Err(err) = remove_retrying(&cgroup).await
        {
            tracing::error!(box_name = %self.box_name, %err, "could not remove the box's cgroup");
        }
        Death { cause, evidence }
    }
}

/// Kill passes with a short, growing pause until the box is empty.
pub(crate) async fn kill_until_empty(
    cgroup: &Arc<dyn Cgroup>,
    box_name: &str,
) -> Result<(), SandboxError> {
    let deadline = Instant::now() + KILL_DEADLINE;
    let mut delay = Duration::from_micros(500);
    // Most boxes are already empty when their main process has exited:
    // skip the freeze/kill/thaw pass then.
    match cgroup.procs() {
        Ok(p) if p.is_empty() => return Ok(()),
        Err(err) if err.is_not_found() => return Ok(()),
        _ => {}
    }
    loop {
        // Freeze, kill, thaw and re-read on the blocking pool (`offload`).
        let c = cgroup.clone();
        let passed = offload(move || Ok(c.kill_pass().and_then(|_| c.procs()))).await?;
        match passed {
            Ok(p) if p.is_empty() => return Ok(()),
            Err(err) if err.is_not_found() => return Ok(()),
            Err(err) => return Err(err),
            Ok(p) if Instant::now() >= deadline => {
                return Err(SandboxError::NotEmpty { name: box_name.to_string(), count: p.len() });
            }
            Ok(_) => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

/// `rmdir` the box (on the blocking pool), retrying while the kernel still
/// reports it busy.
pub(crate) async fn remove_retrying(cgroup: &Arc<dyn Cgroup>) -> Result<(), SandboxError> {
    let deadline = Instant::now() + REMOVE_DEADLINE;
    let mut delay = Duration::from_millis(1);
    loop {
        let c = cgroup.clone();
        match offload(move || Ok(c.remove())).await? {
            Err(SandboxError::Io { source, .. })
                if source.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let hold = self.walls.take();
        let walled = match std::mem::replace(&mut self.child, MainProc::Gone) {
            MainProc::Walled { init, .. } => Some(init),
            other => {
                self.child = other;
                None
            }
        };
        if let Some(init) = &walled {
            let _ = init.signal(libc::SIGKILL);
        }
        let Some(cgroup) = self.cgroup.take() else {
            if let Some(init) = walled {
                crate::walls::reap_in_background(init, hold);
            }
            return;
        };
        let box_name = std::mem::take(&mut self.box_name);
        // kill_on_drop kills the main process and tokio reaps it; the rest of
        // the box is ours to kill and remove.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    let _ = kill_until_empty(&cgroup, &box_name).await;
                    if let Some(mut init) = walled {
                        let _ = tokio::time::timeout(KILL_DEADLINE, init.wait()).await;
                    }
                    drop(hold);
                    if let Err(err) = remove_retrying(&cgroup).await {
                        tracing::warn!(%box_name, %err, "dropped agent's box could not be removed");
                    }
                });
            }
            Err(_) => {
                let _ = cgroup.kill_pass();
                if let Some(init) = walled {
                    crate::walls::clone::reap(init.pidfd());
                }
                let _ = cgroup.remove();
                drop(hold);
            }
        }
    }
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("pid", &self.pid)
            .field("box_name", &self.box_name)
            .field("status", &self.status)
            .finish()
    }
}
