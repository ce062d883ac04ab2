//! The end-to-end scenarios on the real daemon: a restarting service and
//! jobs killed with SIGKILL, and a python service that stamps its own exit.

use crate::disk::{DiskProbe, DiskSamples};
use crate::observe::{Observers, exited, next, observe, started, started_run};
use crate::removals::{box_of, removed_at};
use crate::{DEATHS, PATIENCE, RESTART_FAST, SELF_STAMP, SETTLE, WARMUP};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use stockade_proto::{ExitCause, JobRequest, Limits, PostMortem, RunId};
use stockade_testkit::TestDaemon;

/// Per-death latencies of one scenario.
#[derive(Default)]
pub(crate) struct Latencies {
    pub(crate) commit: Vec<Duration>,
    pub(crate) sse: Vec<Duration>,
    pub(crate) commit_to_sse: Vec<Duration>,
    pub(crate) box_removed: Vec<Duration>,
    pub(crate) removed_to_commit: Vec<Duration>,
}

/// Where [`kill_one`] puts what it measures; `latencies: None` for warm-up.
pub(crate) struct Measure<'a> {
    pub(crate) latencies: Option<&'a mut Latencies>,
    /// Sampled once per death, before the settle.
    pub(crate) disk: Option<&'a mut DiskProbe>,
}

/// Wait for a run of `unit` newer than `after` to start (seen on both
/// observers), settle, SIGKILL its main process, and time its `run_exited`
/// on both.
pub(crate) async fn kill_one(
    obs: &mut Observers,
    unit: &str,
    after: RunId,
    measure: Measure<'_>,
) -> RunId {
    let ((run, pid), _) = next(&mut obs.bus, "run_started", started(unit, after)).await;
    next(&mut obs.sse, "run_started over SSE", started_run(run)).await;
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
    run
}

/// A restarting service killed [`DEATHS`] times, with the disk-bound stages
/// sampled between its deaths. Also returns the limits its boxes had.
pub(crate) async fn kill_service() -> (Latencies, Limits, DiskSamples) {
    let spec = format!("[service.victim]\ncommand = [\"sleep\", \"600\"]\n{RESTART_FAST}");
    let daemon = TestDaemon::start("death-kill", &spec).await;
    let mut obs = observe(&daemon).await;
    // The first run may have started before we subscribed: kill it unmeasured.
    let (first, pid, limits) =
        stockade_testkit::wait_until("the first replica", PATIENCE, || async {
            let status = daemon.running.engine.status().await.ok()?;
            status.services.iter().find_map(|r| Some((r.run?, r.pid?, r.limits.clone())))
        })
        .await;
    // SAFETY: as in kill_one; the replica is running and not yet reaped.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let mut last = first;
    for _ in 0..WARMUP {
        let warmup = Measure { latencies: None, disk: None };
        last = kill_one(&mut obs, "victim", last, warmup).await;
    }
    // A real post-mortem for the store samples.
    let reply = daemon.api.get(&format!("/api/postmortems/{last}")).await;
    let postmortem: PostMortem = serde_json::from_value(reply.json.clone())
        .unwrap_or_else(|e| panic!("post-mortem of run {last}: {e}: {}", reply.json));
    let mut disk = DiskProbe::open(postmortem);
    let mut out = Latencies::default();
    for _ in 0..DEATHS {
        let measure = Measure { latencies: Some(&mut out), disk: Some(&mut disk) };
        last = kill_one(&mut obs, "victim", last, measure).await;
    }
    daemon.stop().await.expect("daemon stops");
    (out, limits, disk.samples)
}

/// [`DEATHS`] jobs, each submitted, started and killed in turn.
pub(crate) async fn kill_job() -> Latencies {
    let spec = "[job.victim]\ncommand = [\"sleep\", \"600\"]\nlimits = { memory = \"256MiB\", pids = 64, cpus = 1.0 }\n";
    let daemon = TestDaemon::start("death-job", spec).await;
    let mut obs = observe(&daemon).await;
    let mut out = Latencies::default();
    let mut last = RunId(0);
    for i in 0..WARMUP + DEATHS {
        let request = JobRequest {
            template: "victim".into(),
            args: vec![],
            env: Default::default(),
            priority: None,
        };
        daemon.running.engine.submit(request).await.expect("submit");
        let measure = Measure { latencies: (i >= WARMUP).then_some(&mut out), disk: None };
        last = kill_one(&mut obs, "victim", last, measure).await;
    }
    daemon.stop().await.expect("daemon stops");
    out
}

/// A python service that stamps CLOCK_REALTIME and exits, restarted
/// [`DEATHS`] times. `None` (with the reason printed) without python3.
pub(crate) async fn self_stamp_service() -> Option<Latencies> {
    let python = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(python) = python else {
        println!("self-stamp rows skipped: no python3 on PATH");
        return None;
    };
    let stamps = tempfile::tempdir().expect("tempdir");
    let argv = [python.as_str(), "-c", SELF_STAMP, &stamps.path().display().to_string()]
        .map(|a| serde_json::to_string(a).expect("a string"))
        .join(", ");
    let spec = format!("[service.stamp]\ncommand = [{argv}]\n{RESTART_FAST}");
    let daemon = TestDaemon::start("death-stamp", &spec).await;
    let mut obs = observe(&daemon).await;
    let mut out = Latencies::default();
    let mut measured = 0;
    while measured < WARMUP + DEATHS {
        let ((run, pid), _) = next(&mut obs.bus, "run_started", started("stamp", RunId(0))).await;
        let (cause, bus) = next(&mut obs.bus, "run_exited", exited(run)).await;
        let (_, sse) = next(&mut obs.sse, "run_exited over SSE", exited(run)).await;
        let file = stamps.path().join(pid.to_string());
        let stamp = std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse::<u128>().ok());
        let _ = std::fs::remove_file(&file);
        let Some(stamp) = stamp else {
            eprintln!("warning: run {run} (pid {pid}) left no stamp; ended with {cause:?}");
            continue;
        };
        let since = |wall: SystemTime| {
            let ns = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            Duration::from_nanos(ns.saturating_sub(stamp) as u64)
        };
        if measured >= WARMUP {
            out.commit.push(since(bus.wall));
            out.sse.push(since(sse.wall));
            out.commit_to_sse.push(sse.at.saturating_duration_since(bus.at));
        }
        measured += 1;
    }
    daemon.stop().await.expect("daemon stops");
    Some(out)
}
