//! [`RecordingLauncher`]: a [`Launcher`] for engine tests. It records every
//! request, reports every launch as started at once, and lets the test decide
//! when and how each run ends.

use crate::launcher::{
    AdoptRequest, Exit, LaunchRequest, Launcher, RunEvent, RunEventKind, StopReason, StopRequest,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use stockade_proto::{ExitCause, Limits, RunId, SpawnErrorKind, Usage};
use tokio::sync::{mpsc, oneshot};

/// Records launches and stops; see the module docs. Clones share one record,
/// so the test keeps a clone after giving one to the engine.
#[derive(Debug, Clone, Default)]
pub struct RecordingLauncher {
    inner: Arc<Mutex<Recorded>>,
}

#[derive(Debug, Default)]
struct Recorded {
    launches: Vec<LaunchRequest>,
    stops: Vec<(RunId, StopRequest)>,
    live: HashMap<RunId, mpsc::UnboundedSender<RunEvent>>,
    next_pid: u32,
    hold_stops: bool,
    fail_spawns: bool,
    /// Boxes an earlier daemon left: `None` still running, `Some` ended
    /// during the outage with this cause. Any other box cannot be adopted.
    survivors: HashMap<String, Option<ExitCause>>,
    adoptions: Vec<AdoptRequest>,
    reclaimed: Vec<String>,
    limit_changes: Vec<(RunId, Limits)>,
}

impl RecordingLauncher {
    /// A launcher whose stops end the run at once, cleanly.
    pub fn new() -> RecordingLauncher {
        RecordingLauncher::default()
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        // A poisoned lock means a test already failed; keep going with its data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make stops only record the request; the test ends the run with [`Self::exit`].
    pub fn hold_stops(&self) {
        self.lock().hold_stops = true;
    }

    /// Make every launch fail as `spawn_failed` (program not found).
    pub fn fail_spawns(&self) {
        self.lock().fail_spawns = true;
    }

    /// Say that box `box_name` survived the last daemon: still running
    /// (`None`) or ended during the outage with `cause`.
    pub fn survivor(&self, box_name: &str, ended: Option<ExitCause>) {
        self.lock().survivors.insert(box_name.to_string(), ended);
    }

    /// Every adoption asked for, in order.
    pub fn adoptions(&self) -> Vec<AdoptRequest> {
        self.lock().adoptions.clone()
    }

    /// Every box reclaimed (killed and removed), in order.
    pub fn reclaimed(&self) -> Vec<String> {
        self.lock().reclaimed.clone()
    }

    /// Every launch so far, in order.
    pub fn launches(&self) -> Vec<LaunchRequest> {
        self.lock().launches.clone()
    }

    /// Every live limit change so far, in order.
    pub fn limit_changes(&self) -> Vec<(RunId, Limits)> {
        self.lock().limit_changes.clone()
    }

    /// Every stop so far, in order.
    pub fn stops(&self) -> Vec<(RunId, StopRequest)> {
        self.lock().stops.clone()
    }

    /// Runs launched and not yet ended.
    pub fn live(&self) -> Vec<RunId> {
        let mut runs: Vec<RunId> = self.lock().live.keys().copied().collect();
        runs.sort();
        runs
    }

    /// End a run with `cause`, as if its main process died.
    pub fn exit(&self, run: RunId, cause: ExitCause) {
        self.exit_with(run, Exit::without_box(cause, "ended by the test"));
    }

    /// End a run with `exit` (its cause and the evidence read from its box).
    pub fn exit_with(&self, run: RunId, exit: Exit) {
        let tx = self.lock().live.remove(&run);
        if let Some(tx) = tx {
            let _ = tx.send(RunEvent { run, kind: RunEventKind::Exited(Box::new(exit)) });
        }
    }

    /// Report an OOM kill inside a live run's box.
    pub fn oom(&self, run: RunId) {
        if let Some(tx) = self.lock().live.get(&run) {
            let _ = tx.send(RunEvent { run, kind: RunEventKind::OomKill { count: 1 } });
        }
    }
}

impl Launcher for RecordingLauncher {
    fn launch(&mut self, request: LaunchRequest, events: mpsc::UnboundedSender<RunEvent>) {
        let mut rec = self.lock();
        let run = request.run;
        rec.launches.push(request);
        if rec.fail_spawns {
            let cause = ExitCause::SpawnFailed {
                error: SpawnErrorKind::NotFound,
                errno: Some(2),
                message: "program not found".into(),
                hint: "check `command`".into(),
            };
            let _ = events.send(RunEvent { run, kind: RunEventKind::SpawnFailed { cause } });
            return;
        }
        rec.next_pid += 1;
        let pid = 10_000 + rec.next_pid;
        let _ = events.send(RunEvent { run, kind: RunEventKind::Started { pid } });
        rec.live.insert(run, events);
    }

    fn stop(&mut self, run: RunId, request: StopRequest) {
        let hold = {
            let mut rec = self.lock();
            rec.stops.push((run, request));
            rec.hold_stops
        };
        if !hold {
            let cause = match request.reason {
                StopReason::Asked => ExitCause::Stopped,
                StopReason::Timeout => ExitCause::TimedOut,
                StopReason::Liveness => ExitCause::LivenessFailed,
            };
            self.exit(run, cause);
        }
    }

    fn usage(&mut self, run: RunId, reply: oneshot::Sender<Usage>) {
        if self.lock().live.contains_key(&run) {
            let _ = reply.send(Usage { memory_current: Some(1 << 20), ..Usage::default() });
        }
    }

    fn set_limits(
        &mut self,
        run: RunId,
        limits: Limits,
        reply: oneshot::Sender<Result<(), String>>,
    ) {
        let mut rec = self.lock();
        if rec.live.contains_key(&run) {
            rec.limit_changes.push((run, limits));
            let _ = reply.send(Ok(()));
        }
    }

    fn forget(&mut self, run: RunId) {
        self.lock().live.remove(&run);
    }

    fn reclaim(&mut self, box_name: &str) -> Result<u32, String> {
        self.lock().reclaimed.push(box_name.to_string());
        Ok(0)
    }

    fn adopt(
        &mut self,
        request: AdoptRequest,
        events: mpsc::UnboundedSender<RunEvent>,
    ) -> Result<u32, String> {
        let mut rec = self.lock();
        let run = request.run;
        let found = rec.survivors.remove(&request.box_name);
        let pid = request.pid.unwrap_or(0);
        rec.adoptions.push(request);
        match found {
            None => Err("the box vanished (no cgroup, no exit record)".into()),
            Some(None) => {
                rec.live.insert(run, events);
                Ok(pid)
            }
            Some(Some(cause)) => {
                let exit = Exit::without_box(cause, "ended while no daemon ran");
                let _ = events.send(RunEvent { run, kind: RunEventKind::Exited(Box::new(exit)) });
                Ok(pid)
            }
        }
    }
}
