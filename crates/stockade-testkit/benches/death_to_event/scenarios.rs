//! The other end-to-end scenarios on the real daemon (default
//! `synchronous=FULL`): jobs killed with SIGKILL, and a python service that
//! stamps its own exit.

use crate::kill::{Latencies, Measure, kill_one};
use crate::observe::{exited, next, observe, started};
use crate::{DEATHS, RESTART_FAST, SELF_STAMP, WARMUP};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use stockade_proto::{JobRequest, RunId};
use stockade_testkit::TestDaemon;

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
            idempotency_key: None,
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
