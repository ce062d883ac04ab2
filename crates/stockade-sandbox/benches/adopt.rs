//! What surviving a daemon crash costs (issue 10): run with
//! `cargo bench -p stockade-sandbox --bench adopt` (root, real cgroups).
//!
//! For 100 and 1,000 live walled boxes (`sleep`, output to a file): spawn
//! them, forget every `Agent` (a SIGKILLed daemon drops nothing), then adopt
//! them all with `Sandbox::adopt` and print a table: wall time to adopt all,
//! per agent; and what adoption added to this process — fds, threads, RSS —
//! and the processes in each box beyond its init and agent.

use std::fs::OpenOptions;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stockade_proto::{Limits, now_millis};
use stockade_sandbox::{
    AdoptSpec, EndReason, Identity, Output, Sandbox, SandboxConfig, SpawnSpec, Walls,
};

const MIB: u64 = 1024 * 1024;

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

struct Row {
    n: usize,
    spawn: Duration,
    adopt: Duration,
    fds: isize,
    threads: isize,
    rss_kib: i64,
    extra_procs: usize,
}

async fn run() {
    stockade_sandbox::raise_nofile_limit().expect("raise nofile");
    let parent = format!("stockade-bench-adopt-{}", std::process::id());
    let sandbox =
        Sandbox::new(SandboxConfig { parent: parent.clone(), ..SandboxConfig::default() })
            .expect("sandbox");
    println!("backend: {}", sandbox.kind());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rows = Vec::new();
    for n in [100, 1000] {
        rows.push(one(&sandbox, dir.path(), n).await);
    }
    let _ = sandbox.remove_subtree();
    println!();
    println!(
        "| live agents | spawn all | adopt all | per agent | fds added | threads added | RSS added | processes beyond init+agent per box |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.2} s | {:.1} ms | {:.0} µs | {} ({:.2}/agent) | {} | {} KiB ({:.1} KiB/agent) | {} |",
            r.n,
            r.spawn.as_secs_f64(),
            r.adopt.as_secs_f64() * 1e3,
            r.adopt.as_secs_f64() * 1e6 / r.n as f64,
            r.fds,
            r.fds as f64 / r.n as f64,
            r.threads,
            r.rss_kib,
            r.rss_kib as f64 / r.n as f64,
            r.extra_procs
        );
    }
}

async fn one(sandbox: &Sandbox, dir: &std::path::Path, n: usize) -> Row {
    let log = OpenOptions::new().create(true).append(true).open(dir.join("out.log")).unwrap();
    let output = Output(Arc::new(log.into()));
    let mut left = Vec::with_capacity(n);
    let t = Instant::now();
    for i in 0..n {
        let mut walls = Walls::new(dir.join(format!("ws-{n}-{i}")));
        walls.tmp_size = 16 * MIB;
        let record = walls.exit_record_path();
        let spec = SpawnSpec {
            box_name: format!("a{n}/{i}"),
            argv: vec!["sleep".into(), "1000".into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            limits: Limits { memory: Some(64 * MIB), pids: Some(16), ..Limits::default() },
            walls: Some(walls),
            output: Some(output.clone()),
            ..SpawnSpec::default()
        };
        let started = now_millis();
        let agent = sandbox.spawn(spec).await.expect("spawn");
        left.push((format!("a{n}/{i}"), agent.pid(), started, record));
        // The daemon dies: nothing is dropped.
        std::mem::forget(agent);
    }
    let spawn = t.elapsed();
    let (fds0, threads0, rss0) = (fds(), threads(), rss_kib());
    let t = Instant::now();
    let mut adopted = Vec::with_capacity(n);
    for (box_name, pid, started, record) in &left {
        let spec = AdoptSpec {
            box_name: box_name.clone(),
            identity: Identity { pid: *pid, started_at_ms: *started },
            exit_record: Some(record.clone()),
            limits: Limits::default(),
            running_for: Duration::from_millis(now_millis().saturating_sub(*started)),
        };
        adopted.push(sandbox.adopt(spec).expect("adopt"));
    }
    let adopt = t.elapsed();
    let (fds1, threads1, rss1) = (fds(), threads(), rss_kib());
    let extra_procs = left
        .iter()
        .map(|(b, ..)| sandbox.live_pids(b).map(|p| p.len()).unwrap_or(0).saturating_sub(2))
        .max()
        .unwrap_or(0);
    for mut agent in adopted {
        let pid = agent.pid();
        let _ = agent.signal_main(libc::SIGKILL);
        let status = agent.wait().await.expect("wait");
        // SAFETY: waitpid(2) of an init this process forked (the bench
        // plays both daemons); a real successor never reaps it.
        unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), 0) };
        agent.finish(status, EndReason::Stopped).await;
    }
    Row {
        n,
        spawn,
        adopt,
        fds: fds1 as isize - fds0 as isize,
        threads: threads1 as isize - threads0 as isize,
        rss_kib: rss1 as i64 - rss0 as i64,
        extra_procs,
    }
}
