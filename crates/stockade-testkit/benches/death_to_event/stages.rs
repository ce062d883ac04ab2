//! The watcher's steps measured alone on real boxes: reap, finish (and its
//! raw parts), pipes at EOF, and the host snapshot taken at death.

use crate::removals::box_dirs;
use crate::{DEATHS, SETTLE, WARMUP};
use std::time::{Duration, Instant};
use stockade_proto::Limits;
use stockade_sandbox::{
    AgentEvent, EndReason, EnvMode, ParentDeath, Sandbox, SandboxConfig, SpawnSpec,
};

/// The watcher's own steps on real boxes with `limits`: kill → reaped,
/// finish, pipes at EOF.
pub(crate) async fn sandbox_stages(
    limits: &Limits,
) -> (Vec<Duration>, Vec<Duration>, Vec<Duration>) {
    let parent = format!("stockade-bench-death-{}", std::process::id());
    let sandbox =
        Sandbox::new(SandboxConfig { parent, ..SandboxConfig::default() }).expect("sandbox");
    let (mut reaped, mut finished, mut drained) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..WARMUP + DEATHS {
        let spec = SpawnSpec {
            box_name: format!("victim.{i}"),
            argv: vec!["sleep".into(), "600".into()],
            env: vec![],
            env_mode: EnvMode::Inherit,
            cwd: None,
            limits: limits.clone(),
            parent_death: ParentDeath::Kill,
            walls: None,
            output: None,
        };
        let mut agent = sandbox.spawn(spec).await.expect("spawn into a box");
        let (stdout, stderr) = (agent.take_stdout(), agent.take_stderr());
        let pipes = tokio::spawn(async move {
            if let Some(mut out) = stdout {
                let _ = tokio::io::copy(&mut out, &mut tokio::io::sink()).await;
            }
            if let Some(mut err) = stderr {
                let _ = tokio::io::copy(&mut err, &mut tokio::io::sink()).await;
            }
        });
        tokio::time::sleep(SETTLE).await;
        let t0 = Instant::now();
        // SAFETY: kill(2) has no memory-safety preconditions; the agent is
        // ours and not yet reaped.
        unsafe { libc::kill(agent.pid() as i32, libc::SIGKILL) };
        let status = loop {
            if let AgentEvent::Exited(status) = agent.next_event().await {
                break status.expect("wait for the agent");
            }
        };
        let t1 = Instant::now();
        agent.finish(status, EndReason::Exited).await;
        let t2 = Instant::now();
        let _ = pipes.await;
        let t3 = Instant::now();
        if i >= WARMUP {
            reaped.push(t1 - t0);
            finished.push(t2 - t1);
            drained.push(t3 - t2);
        }
    }
    if let Err(err) = sandbox.release() {
        eprintln!("warning: could not remove the bench's cgroup parent: {err}");
    }
    (reaped, finished, drained)
}

/// `Agent::finish` in two raw parts, on real boxes that held a killed
/// agent: reading the evidence files the v1/v2 backends read, and removing
/// the box's directory in every hierarchy. `finish` then runs on the empty
/// remains only to tidy the agent's state.
pub(crate) async fn finish_parts(limits: &Limits) -> (Vec<Duration>, Vec<Duration>) {
    const EVIDENCE: [&str; 13] = [
        "cgroup.procs",
        "memory.oom_control",
        "memory.failcnt",
        "memory.usage_in_bytes",
        "memory.max_usage_in_bytes",
        "memory.limit_in_bytes",
        "memory.events",
        "memory.peak",
        "pids.events",
        "pids.current",
        "pids.max",
        "pids.peak",
        "cpuacct.usage",
    ];
    let parent = format!("stockade-bench-death-raw-{}", std::process::id());
    let sandbox =
        Sandbox::new(SandboxConfig { parent: parent.clone(), ..SandboxConfig::default() })
            .expect("sandbox");
    let (mut reads, mut removes) = (Vec::new(), Vec::new());
    for i in 0..WARMUP + DEATHS {
        let box_name = format!("victim.{i}");
        let spec = SpawnSpec {
            box_name: box_name.clone(),
            argv: vec!["sleep".into(), "600".into()],
            env: vec![],
            env_mode: EnvMode::Inherit,
            cwd: None,
            limits: limits.clone(),
            parent_death: ParentDeath::Kill,
            walls: None,
            output: None,
        };
        let mut agent = sandbox.spawn(spec).await.expect("spawn into a box");
        let dirs = box_dirs(&parent, &box_name);
        // SAFETY: kill(2) has no memory-safety preconditions; the agent is
        // ours and not yet reaped.
        unsafe { libc::kill(agent.pid() as i32, libc::SIGKILL) };
        let status = agent.wait().await.expect("wait for the agent");
        let t0 = Instant::now();
        let mut read = 0;
        for dir in &dirs {
            for name in EVIDENCE {
                read += std::fs::read(dir.join(name)).map_or(0, |b| b.len());
            }
        }
        let t1 = Instant::now();
        let deadline = t1 + Duration::from_secs(2);
        for dir in &dirs {
            // An emptied v1 box can be EBUSY for a moment, as finish knows.
            while let Err(err) = std::fs::remove_dir(dir) {
                if err.kind() == std::io::ErrorKind::NotFound || Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        let t2 = Instant::now();
        agent.finish(status, EndReason::Exited).await;
        if i >= WARMUP && read > 0 {
            reads.push(t1 - t0);
            removes.push(t2 - t1);
        }
    }
    if let Err(err) = sandbox.release() {
        eprintln!("warning: could not remove the bench's cgroup parent: {err}");
    }
    (reads, removes)
}

/// The host snapshot the watcher takes at every death.
pub(crate) async fn host_snapshots() -> Vec<Duration> {
    let root = stockade_host::HostRoot::default();
    let mut out = Vec::new();
    for i in 0..WARMUP + DEATHS {
        let root = root.clone();
        let t0 = Instant::now();
        let _ =
            tokio::task::spawn_blocking(move || stockade_host::HostFacts::read(&root).snapshot())
                .await;
        if i >= WARMUP {
            out.push(t0.elapsed());
        }
    }
    out
}
