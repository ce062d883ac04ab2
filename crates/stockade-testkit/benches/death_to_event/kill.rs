//! One measured death: wait for a run to start, settle, SIGKILL its main
//! process and time its `run_exited` on the broadcast, over SSE and (through
//! inotify) the removal of its box.

use crate::SETTLE;
use crate::disk::DiskProbe;
use crate::observe::{Observers, exited, next, started, started_run};
use crate::removals::{box_of, removed_at};
use std::time::{Duration, Instant};
use stockade_proto::{ExitCause, RunId};

/// Per-death latencies of one scenario, in the order of the deaths.
#[derive(Default)]
pub(crate) struct Latencies {
    pub(crate) commit: Vec<Duration>,
    pub(crate) sse: Vec<Duration>,
    pub(crate) commit_to_sse: Vec<Duration>,
    pub(crate) box_removed: Vec<Duration>,
    pub(crate) removed_to_commit: Vec<Duration>,
}

/// Where [`kill_run`] puts what it measures; `latencies: None` for warm-up.
pub(crate) struct Measure<'a> {
    pub(crate) latencies: Option<&'a mut Latencies>,
    /// Sampled once per death, before the settle.
    pub(crate) disk: Option<&'a mut DiskProbe>,
}

/// A run whose start both observers have seen.
#[derive(Clone, Copy)]
pub(crate) struct Started {
    pub(crate) run: RunId,
    pub(crate) pid: u32,
}

/// Wait for a run of `unit` newer than `after` to start, seen on both
/// observers.
pub(crate) async fn next_run(obs: &mut Observers, unit: &str, after: RunId) -> Started {
    let ((run, pid), _) = next(&mut obs.bus, "run_started", started(unit, after)).await;
    next(&mut obs.sse, "run_started over SSE", started_run(run)).await;
    Started { run, pid }
}

/// Settle, SIGKILL the main process of `victim` and time its `run_exited`
/// on both observers (and its box's removal, if watched).
pub(crate) async fn kill_run(obs: &mut Observers, victim: Started, measure: Measure<'_>) {
    let Started { run, pid } = victim;
    let Measure { latencies: out, disk } = measure;
    if let Some(disk) = disk {
        disk.sample().await;
    }
    let watched = obs.removals.as_ref().and_then(|r| box_of(r, pid));
    tokio::time::sleep(SETTLE).await;
    let t0 = Instant::now();
    // SAFETY: kill(2) has no memory-safety preconditions. `pid` is the main
    // process of a run whose exit has not been reported yet; the daemon has
    // not reaped it, so the pid cannot have been reused.
    let rc = unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert_eq!(rc, 0, "kill({pid}): {}", std::io::Error::last_os_error());
    let (cause, bus) = next(&mut obs.bus, "run_exited", exited(run)).await;
    let (_, sse) = next(&mut obs.sse, "run_exited over SSE", exited(run)).await;
    if !matches!(cause, ExitCause::Signaled { signal: 9, .. }) {
        eprintln!("warning: run {run} ended with {cause:?}, not SIGKILL");
    }
    let removed = match (obs.removals.as_mut(), watched) {
        (Some(removals), Some((name, count))) => Some(removed_at(removals, &name, count).await),
        _ => None,
    };
    if let Some(out) = out {
        out.commit.push(bus.at - t0);
        out.sse.push(sse.at - t0);
        out.commit_to_sse.push(sse.at.saturating_duration_since(bus.at));
        if let Some(removed) = removed {
            out.box_removed.push(removed.saturating_duration_since(t0));
            out.removed_to_commit.push(bus.at.saturating_duration_since(removed));
        }
    }
}

/// [`next_run`] then [`kill_run`]: the run killed.
pub(crate) async fn kill_one(
    obs: &mut Observers,
    unit: &str,
    after: RunId,
    measure: Measure<'_>,
) -> RunId {
    let victim = next_run(obs, unit, after).await;
    kill_run(obs, victim, measure).await;
    victim.run
}
