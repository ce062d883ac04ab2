//! Death → event: how long after an agent's main process dies is its
//! `run_exited` event committed, and how long until an SSE client has it.
//! `cargo bench -p stockade-testkit --bench death_to_event`
//!
//! The real daemon runs in-process ([`TestDaemon`], state in a tempdir under
//! `$TMPDIR`, so the store's fsync hits the real filesystem), its agents run in
//! real boxes (v1/v2 cgroups with memory, pids and cpu limits).
//!
//! Two ways to know the moment of death:
//!
//! - **kill** (the headline): the agent is `sleep 600`; the bench takes
//!   `Instant::now()` right before `kill(pid, SIGKILL)`. Both ends use one
//!   monotonic clock in one process, so nothing is estimated; the interval
//!   includes the kernel delivering the signal and tearing the process down
//!   (tens of µs for `sleep`), which any real death pays too.
//! - **self-stamp**: a python agent writes `time.time_ns()` (CLOCK_REALTIME)
//!   to a file and `os._exit(1)`s; the bench compares with `SystemTime` at
//!   receipt. No signal, but the interval includes python's own exit.
//!
//! "Committed" is receipt on `engine.subscribe()`: the engine publishes to
//! that broadcast right after the store's commit returns, so receipt there is
//! commit + one channel hop + a task wakeup. "SSE" is receipt of the `data:`
//! line by a client of `GET /api/events` over the Unix socket.
//!
//! The daemon has no switch for the store's `synchronous` (it always opens
//! the store with `synchronous=FULL`), so the end-to-end rows are FULL only;
//! the breakdown measures the same commit (end of run + post-mortem) on the
//! store directly with FULL and NORMAL.
//!
//! Breakdown, each stage measured alone on the same machine:
//! - sandbox: kill → the main process reaped (`Agent::next_event`), then
//!   `Agent::finish` (kill pass, evidence read, cgroup removal), then the
//!   output pipes at EOF (the watcher drains them before reporting);
//! - the host snapshot the watcher takes at death (`HostFacts::read`);
//! - the store commit of `EndRun` + `PostMortem` (a real post-mortem taken
//!   from the kill run), FULL and NORMAL.

use http_body_util::BodyExt;
use hyper::Method;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use stockade_proto::{
    Event, EventKind, ExitCause, JobRequest, Limits, PostMortem, RunId, UnitKind,
};
use stockade_sandbox::{
    AgentEvent, EndReason, EnvMode, ParentDeath, Sandbox, SandboxConfig, SpawnSpec,
};
use stockade_store::{NewRun, Store, StoreOptions, Synchronous, Write};
use stockade_testkit::TestDaemon;
use tokio::sync::mpsc;

/// Measured deaths per scenario.
const DEATHS: usize = 200;
/// Deaths before measuring (cold caches, first-spawn work).
const WARMUP: usize = 5;
/// Quiet time between an agent's start and its kill, so the previous
/// restart's commits (run_started, service_state) are not in flight: each
/// death is measured alone, as a death on an idle daemon would be.
const SETTLE: Duration = Duration::from_millis(10);
/// Longest wait for any one event before the bench gives up.
const PATIENCE: Duration = Duration::from_secs(20);

const RESTART_FAST: &str = r#"restart = "always"
backoff = { initial = "20ms", max = "20ms", factor = 1.0, jitter = 0.0 }
start_limit = { burst = 1000000, interval = "1s" }
limits = { memory = "256MiB", pids = 64, cpus = 1.0 }
"#;

/// Python agent for the self-stamp scenario: the stamp file is named by its
/// pid, which the bench learns from `run_started`.
const SELF_STAMP: &str = "import os,sys,time\n\
fd=os.open(os.path.join(sys.argv[1],str(os.getpid())),os.O_WRONLY|os.O_CREAT|os.O_TRUNC,0o600)\n\
os.write(fd,str(time.time_ns()).encode())\n\
os._exit(1)\n";

/// One event as an observer saw it, stamped on arrival.
struct Seen {
    event: Event,
    at: Instant,
    wall: SystemTime,
}

/// The two places an event is observed.
struct Observers {
    bus: mpsc::UnboundedReceiver<Seen>,
    sse: mpsc::UnboundedReceiver<Seen>,
}

/// Per-death latencies of one scenario.
#[derive(Default)]
struct Latencies {
    commit: Vec<Duration>,
    sse: Vec<Duration>,
    commit_to_sse: Vec<Duration>,
}

struct Row {
    what: String,
    samples: Vec<Duration>,
}

fn row(what: &str, samples: Vec<Duration>) -> Row {
    Row { what: what.to_string(), samples }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn fmt(d: Duration) -> String {
    if d >= Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.3} ms", d.as_secs_f64() * 1e3)
    }
}

fn print_table(title: &str, rows: &mut [Row]) {
    println!("\n### {title}\n");
    println!("| measurement | n | median | p90 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in rows.iter_mut() {
        if r.samples.is_empty() {
            println!("| {} | 0 | – | – | – | – |", r.what);
            continue;
        }
        r.samples.sort();
        let s = &r.samples;
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.what,
            s.len(),
            fmt(quantile(s, 0.5)),
            fmt(quantile(s, 0.9)),
            fmt(quantile(s, 0.99)),
            fmt(s[s.len() - 1])
        );
    }
}

fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    if s.is_empty() { Duration::ZERO } else { quantile(&s, 0.5) }
}

fn main() {
    // Like `stockade daemon`: two workers.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    if !stockade_testkit::can_make_boxes() {
        println!("skipped: needs root and a writable cgroup tree");
        return;
    }
    let tmp = std::env::temp_dir();
    println!(
        "death → event: {DEATHS} deaths per scenario after {WARMUP} warm-up; state dir under {} ({}); cores: {}",
        tmp.display(),
        filesystem_of(&tmp),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    let (kill, limits, postmortem) = kill_service().await;
    let job = kill_job().await;
    let stamp = self_stamp_service().await;

    let mut e2e = vec![
        row("service, kill → committed (broadcast receipt)", kill.commit.clone()),
        row("service, kill → SSE client receipt", kill.sse.clone()),
        row("service, committed → SSE (same death)", kill.commit_to_sse.clone()),
        row("job, kill → committed", job.commit.clone()),
        row("job, kill → SSE client receipt", job.sse.clone()),
    ];
    if let Some(stamp) = &stamp {
        e2e.push(row("service, self-stamp exit → committed", stamp.commit.clone()));
        e2e.push(row("service, self-stamp exit → SSE client receipt", stamp.sse.clone()));
    }
    print_table("end to end (real daemon, real boxes, synchronous=FULL)", &mut e2e);

    let sandbox = sandbox_stages(&limits).await;
    let snapshot = host_snapshots().await;
    let full = store_commits(Synchronous::Full, &postmortem).await;
    let normal = store_commits(Synchronous::Normal, &postmortem).await;
    let stages = [
        median(&sandbox.0),
        median(&sandbox.1),
        median(&sandbox.2),
        median(&snapshot),
        median(&full),
    ];
    let mut parts = vec![
        row("kill → main process reaped (sandbox alone)", sandbox.0),
        row("`Agent::finish`: kill pass, evidence, cgroup rmdir", sandbox.1),
        row("output pipes at EOF after finish", sandbox.2),
        row("host snapshot at death (spawn_blocking + `HostFacts::read`)", snapshot),
        row("store: EndRun + PostMortem commit, synchronous=FULL", full),
        row("store: EndRun + PostMortem commit, synchronous=NORMAL", normal),
    ];
    print_table("breakdown (each stage alone)", &mut parts);

    let total = median(&kill.commit);
    let known: Duration = stages.iter().sum();
    println!(
        "\nservice kill → committed, median {}: target ≤ 1 ms {} ({}).",
        fmt(total),
        if total <= Duration::from_millis(1) { "met" } else { "missed" },
        if total <= Duration::from_millis(1) {
            format!("{} to spare", fmt(Duration::from_millis(1) - total))
        } else {
            format!("by {}", fmt(total - Duration::from_millis(1)))
        }
    );
    println!(
        "sum of the stage medians above (FULL): {}; the rest ({}) is task hops, the engine's step and scheduling.",
        fmt(known),
        fmt(total.saturating_sub(known))
    );
}

/// The filesystem type of `path`, from /proc/self/mounts (longest prefix).
fn filesystem_of(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut best = ("?".to_string(), 0);
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() > 2 && path.starts_with(fields[1]) && fields[1].len() >= best.1 {
            best = (fields[2].to_string(), fields[1].len());
        }
    }
    best.0
}

/// Watch both the engine's broadcast and an SSE client of `daemon`.
async fn observe(daemon: &TestDaemon) -> Observers {
    let (bus_tx, bus) = mpsc::unbounded_channel();
    let mut live = daemon.running.engine.subscribe();
    tokio::spawn(async move {
        loop {
            match live.recv().await {
                Ok(event) => {
                    let seen = Seen { event, at: Instant::now(), wall: SystemTime::now() };
                    if bus_tx.send(seen).is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("warning: the bench's broadcast receiver lagged by {n} events");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let (sse_tx, sse) = mpsc::unbounded_channel();
    let response = daemon.api.open(Method::GET, "/api/events", None, &[]).await;
    assert!(response.status().is_success(), "GET /api/events: {}", response.status());
    let mut body = response.into_body();
    tokio::spawn(async move {
        let mut pending = Vec::<u8>::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Some(bytes) = frame.data_ref() else { continue };
            pending.extend_from_slice(bytes);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let Some(data) = line.strip_prefix(b"data:") else { continue };
                let (at, wall) = (Instant::now(), SystemTime::now());
                match serde_json::from_slice::<Event>(data.trim_ascii()) {
                    Ok(event) => {
                        if sse_tx.send(Seen { event, at, wall }).is_err() {
                            return;
                        }
                    }
                    Err(err) => eprintln!("warning: unparsable SSE data line: {err}"),
                }
            }
        }
    });
    Observers { bus, sse }
}

/// The next event on `rx` that `want` picks, or a panic after [`PATIENCE`].
async fn next<T>(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    what: &str,
    want: impl Fn(&Event) -> Option<T>,
) -> (T, Seen) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let seen = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {PATIENCE:?}"))
            .unwrap_or_else(|| panic!("the stream ended while waiting for {what}"));
        if let Some(found) = want(&seen.event) {
            return (found, seen);
        }
    }
}

/// A run of `unit` newer than `after` started (run ids only grow).
fn started(unit: &str, after: RunId) -> impl Fn(&Event) -> Option<(RunId, u32)> + '_ {
    move |e| match e.kind {
        EventKind::RunStarted { run, pid } if e.unit == unit && run > after => Some((run, pid)),
        _ => None,
    }
}

fn started_run(run: RunId) -> impl Fn(&Event) -> Option<()> {
    move |e| matches!(e.kind, EventKind::RunStarted { run: r, .. } if r == run).then_some(())
}

fn exited(run: RunId) -> impl Fn(&Event) -> Option<ExitCause> {
    move |e| match &e.kind {
        EventKind::RunExited { run: r, cause } if *r == run => Some(cause.clone()),
        _ => None,
    }
}

/// Wait for a run of `unit` newer than `after` to start (seen on both
/// observers), settle, SIGKILL its main process, and time its `run_exited`
/// on both.
async fn kill_one(
    obs: &mut Observers,
    unit: &str,
    after: RunId,
    out: Option<&mut Latencies>,
) -> RunId {
    let ((run, pid), _) = next(&mut obs.bus, "run_started", started(unit, after)).await;
    next(&mut obs.sse, "run_started over SSE", started_run(run)).await;
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
    if let Some(out) = out {
        out.commit.push(bus.at - t0);
        out.sse.push(sse.at - t0);
        out.commit_to_sse.push(sse.at.saturating_duration_since(bus.at));
    }
    run
}

/// A restarting service killed [`DEATHS`] times. Also returns the limits its
/// boxes had and one real post-mortem, for the breakdown.
async fn kill_service() -> (Latencies, Limits, PostMortem) {
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
    let mut out = Latencies::default();
    let mut last = first;
    for i in 0..WARMUP + DEATHS {
        last = kill_one(&mut obs, "victim", last, (i >= WARMUP).then_some(&mut out)).await;
    }
    let reply = daemon.api.get(&format!("/api/postmortems/{last}")).await;
    let postmortem: PostMortem = serde_json::from_value(reply.json.clone())
        .unwrap_or_else(|e| panic!("post-mortem of run {last}: {e}: {}", reply.json));
    daemon.stop().await.expect("daemon stops");
    (out, limits, postmortem)
}

/// [`DEATHS`] jobs, each submitted, started and killed in turn.
async fn kill_job() -> Latencies {
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
        last = kill_one(&mut obs, "victim", last, (i >= WARMUP).then_some(&mut out)).await;
    }
    daemon.stop().await.expect("daemon stops");
    out
}

/// A python service that stamps CLOCK_REALTIME and exits, restarted
/// [`DEATHS`] times. `None` (with the reason printed) without python3.
async fn self_stamp_service() -> Option<Latencies> {
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

/// The watcher's own steps on real boxes with `limits`: kill → reaped,
/// finish, pipes at EOF.
async fn sandbox_stages(limits: &Limits) -> (Vec<Duration>, Vec<Duration>, Vec<Duration>) {
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

/// The host snapshot the watcher takes at every death.
async fn host_snapshots() -> Vec<Duration> {
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

/// The commit a death makes: the run's end (with its `RunExited` event) and
/// its post-mortem, one transaction, on a fresh store.
async fn store_commits(synchronous: Synchronous, postmortem: &PostMortem) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions { synchronous, ..StoreOptions::default() };
    let store = Store::open(&dir.path().join("stockade.db"), options).expect("open store");
    let mut out = Vec::new();
    for i in 0..WARMUP + DEATHS {
        let new = NewRun {
            unit: "victim".into(),
            kind: UnitKind::Service,
            job: None,
            replica: 0,
            attempt: i as u32,
            pid: Some(4242),
            box_name: format!("victim.0.{i}"),
            started_at: postmortem.started_at,
            limits: postmortem.limits.clone(),
        };
        let applied = store.apply(vec![Write::StartRun(new)]).await.expect("start run");
        let run = applied.iter().find_map(|a| a.run()).expect("a run id");
        tokio::time::sleep(SETTLE).await;
        let writes = vec![
            Write::EndRun {
                run,
                cause: postmortem.cause.clone(),
                evidence: postmortem.evidence.clone(),
                ended_at: postmortem.ended_at,
            },
            Write::PostMortem(PostMortem { run, ..postmortem.clone() }),
        ];
        let t0 = Instant::now();
        store.apply(writes).await.expect("commit the end of a run");
        if i >= WARMUP {
            out.push(t0.elapsed());
        }
    }
    out
}
