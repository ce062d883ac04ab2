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
//! Breakdown:
//! - inside the real daemon, without touching it: inotify on its cgroup
//!   parent sees the box's rmdir, the last step of `Agent::finish`, which
//!   splits kill → committed into kill → box removed and box removed →
//!   committed;
//! - each stage alone on the same machine: kill → main process reaped
//!   (`Agent::next_event`), `Agent::finish` (kill pass, evidence, rmdir; and
//!   raw evidence reads and raw rmdirs on their own), the output pipes at
//!   EOF, the host snapshot the watcher takes at death (`HostFacts::read`);
//! - the disk-bound ones — the store commit of `EndRun` + `PostMortem` (a
//!   real post-mortem from the daemon), FULL and NORMAL, and a raw 4 KiB
//!   write + fdatasync — sampled between the service's deaths, because
//!   fsync latency on this shared machine moves by 10× from minute to
//!   minute and stages measured at another time do not add up.

use http_body_util::BodyExt;
use hyper::Method;
use std::path::{Path, PathBuf};
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
    removals: Option<Removals>,
}

/// Box directories the daemon removed, as inotify reports them on its cgroup
/// parent in every hierarchy: (box name, when the watching thread read it).
/// cgroupfs raises `IN_DELETE` for an rmdir like any directory, so this sees
/// the end of `Agent::finish` inside the real daemon without polling.
struct Removals {
    /// The daemon's cgroup parent (a path segment).
    parent: String,
    /// That parent in each hierarchy that has it.
    dirs: Vec<PathBuf>,
    rx: mpsc::UnboundedReceiver<(String, Instant)>,
}

/// Per-death latencies of one scenario.
#[derive(Default)]
struct Latencies {
    commit: Vec<Duration>,
    sse: Vec<Duration>,
    commit_to_sse: Vec<Duration>,
    box_removed: Vec<Duration>,
    removed_to_commit: Vec<Duration>,
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
    let load_before = load_average();
    println!(
        "death → event: {DEATHS} deaths per scenario after {WARMUP} warm-up; state dir under {} ({}); cores: {}",
        tmp.display(),
        filesystem_of(&tmp),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    let (kill, limits, disk) = kill_service().await;
    let job = kill_job().await;
    let stamp = self_stamp_service().await;

    let mut e2e = vec![
        row("service, kill → committed (broadcast receipt)", kill.commit.clone()),
        row("service, kill → SSE client receipt", kill.sse.clone()),
        row("service, committed → SSE (same death)", kill.commit_to_sse.clone()),
        row(
            "service, kill → box removed (inotify on the daemon's cgroups)",
            kill.box_removed.clone(),
        ),
        row("service, box removed → committed", kill.removed_to_commit.clone()),
        row("job, kill → committed", job.commit.clone()),
        row("job, kill → SSE client receipt", job.sse.clone()),
        row("job, kill → box removed", job.box_removed.clone()),
        row("job, box removed → committed", job.removed_to_commit.clone()),
    ];
    if let Some(stamp) = &stamp {
        e2e.push(row("service, self-stamp exit → committed", stamp.commit.clone()));
        e2e.push(row("service, self-stamp exit → SSE client receipt", stamp.sse.clone()));
    }
    print_table("end to end (real daemon, real boxes, synchronous=FULL)", &mut e2e);

    let sandbox = sandbox_stages(&limits).await;
    let (evidence, rmdir) = finish_parts(&limits).await;
    let snapshot = host_snapshots().await;
    let DiskSamples { full, normal, fdatasync } = disk;
    let stages = [
        median(&sandbox.0),
        median(&sandbox.1),
        median(&sandbox.2),
        median(&snapshot),
        median(&full),
    ];
    let (full_median, normal_median) = (median(&full), median(&normal));
    let mut parts = vec![
        row("kill → main process reaped (sandbox alone)", sandbox.0),
        row("`Agent::finish`: kill pass, evidence, cgroup rmdir", sandbox.1),
        row("  of which: reading the evidence files (raw reads)", evidence),
        row("  of which: rmdir of the box in every hierarchy (raw)", rmdir),
        row("output pipes at EOF after finish", sandbox.2),
        row("host snapshot at death (spawn_blocking + `HostFacts::read`)", snapshot),
        row("store: EndRun + PostMortem commit, FULL (between the service's deaths)", full),
        row("store: EndRun + PostMortem commit, NORMAL (between the service's deaths)", normal),
        row("floor: 4 KiB pwrite + fdatasync on $TMPDIR (between the deaths)", fdatasync),
    ];
    print_table("breakdown (each stage alone)", &mut parts);

    let total = median(&kill.commit);
    let known: Duration = stages.iter().sum();
    let target = Duration::from_millis(1);
    let verdict = if total <= target {
        format!("met, {} to spare", fmt(target - total))
    } else {
        format!("missed by {}", fmt(total - target))
    };
    println!("\nservice kill → committed, median {}: target ≤ 1 ms {verdict}.", fmt(total));
    println!(
        "sum of the stage medians (reap, finish, drain, snapshot, FULL commit): {}; the rest ({}) is task hops, the engine's step and scheduling.",
        fmt(known),
        fmt(total.saturating_sub(known))
    );
    if !kill.box_removed.is_empty() {
        println!(
            "inside the daemon (service): kill → box removed {} (reap + finish; alone: {}), box removed → committed {} (pipes, host snapshot, engine step, post-mortem, store commit, publish; alone: {}).",
            fmt(median(&kill.box_removed)),
            fmt(stages[0] + stages[1]),
            fmt(median(&kill.removed_to_commit)),
            fmt(stages[2] + stages[3] + stages[4]),
        );
    }
    println!(
        "estimate with synchronous=NORMAL (not measured end to end: the daemon has no switch): {} - {} + {} = {}.",
        fmt(total),
        fmt(full_median),
        fmt(normal_median),
        fmt((total + normal_median).saturating_sub(full_median))
    );
    println!("load average during the run (start → end): {load_before} → {}", load_average());
}

/// `/proc/loadavg`'s first three fields: how busy the machine was.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
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
    Observers { bus, sse, removals: watch_removals(&daemon.parent) }
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

/// Where [`kill_one`] puts what it measures; `latencies: None` for warm-up.
struct Measure<'a> {
    latencies: Option<&'a mut Latencies>,
    /// Sampled once per death, before the settle.
    disk: Option<&'a mut DiskProbe>,
}

/// Wait for a run of `unit` newer than `after` to start (seen on both
/// observers), settle, SIGKILL its main process, and time its `run_exited`
/// on both.
async fn kill_one(obs: &mut Observers, unit: &str, after: RunId, measure: Measure<'_>) -> RunId {
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

/// The box of the agent `pid` under the daemon's parent, and in how many
/// watched hierarchies it exists.
fn box_of(removals: &Removals, pid: u32) -> Option<(String, usize)> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let marker = format!("/{}/", removals.parent);
    let name = cgroups.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        let at = path.find(&marker)?;
        path[at + marker.len()..].split('/').next().map(str::to_string)
    })?;
    let count = removals.dirs.iter().filter(|d| d.join(&name).is_dir()).count();
    (count > 0).then_some((name, count))
}

/// When the last of `count` directories of box `name` was removed.
async fn removed_at(removals: &mut Removals, name: &str, count: usize) -> Instant {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen = 0;
    let mut last = None;
    while seen < count {
        let (removed, at) = tokio::time::timeout_at(deadline, removals.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("box {name} not removed within {PATIENCE:?}"))
            .unwrap_or_else(|| panic!("the inotify watcher ended before box {name} was removed"));
        if removed == name {
            seen += 1;
            last = Some(at);
        }
    }
    last.unwrap_or_else(Instant::now)
}

/// Watch the daemon's cgroup `parent` in every hierarchy for removed
/// directories, on a thread of its own (it blocks in read(2)). It ends when
/// every watched parent is gone or nobody listens. `None` (with the reason
/// printed) if inotify is unavailable.
fn watch_removals(parent: &str) -> Option<Removals> {
    use std::os::unix::ffi::OsStrExt;
    let dirs: Vec<PathBuf> =
        hierarchy_dirs().into_iter().map(|d| d.join(parent)).filter(|d| d.is_dir()).collect();
    // SAFETY: inotify_init1 takes flags only.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        println!("box-removal rows skipped: inotify_init1: {}", std::io::Error::last_os_error());
        return None;
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut watches = 0;
    for dir in &dirs {
        let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { continue };
        // SAFETY: `path` is a valid NUL-terminated string for the call.
        let wd = unsafe {
            libc::inotify_add_watch(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                path.as_ptr(),
                libc::IN_DELETE | libc::IN_ONLYDIR,
            )
        };
        if wd >= 0 {
            watches += 1;
        }
    }
    if watches == 0 {
        println!("box-removal rows skipped: no cgroup parent of the daemon could be watched");
        return None;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut file = std::fs::File::from(fd);
        let mut buf = [0u8; 4096];
        let mut ignored = 0;
        while ignored < watches {
            let Ok(n) = std::io::Read::read(&mut file, &mut buf) else { return };
            let at = Instant::now();
            let mut off = 0;
            // struct inotify_event: wd i32, mask u32, cookie u32, len u32, name[len].
            while off + 16 <= n {
                let word = |i: usize| {
                    u32::from_ne_bytes(buf[off + i..off + i + 4].try_into().unwrap_or([0; 4]))
                };
                let (mask, len) = (word(4), word(12) as usize);
                let name = &buf[off + 16..(off + 16 + len).min(n)];
                let name = name.split(|b| *b == 0).next().unwrap_or_default();
                if mask & libc::IN_IGNORED != 0 {
                    ignored += 1;
                } else if mask & libc::IN_DELETE != 0
                    && tx.send((String::from_utf8_lossy(name).into_owned(), at)).is_err()
                {
                    return;
                }
                off += 16 + len;
            }
        }
    });
    Some(Removals { parent: parent.to_string(), dirs, rx })
}

/// A restarting service killed [`DEATHS`] times, with the disk-bound stages
/// sampled between its deaths. Also returns the limits its boxes had.
async fn kill_service() -> (Latencies, Limits, DiskSamples) {
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
        let measure = Measure { latencies: (i >= WARMUP).then_some(&mut out), disk: None };
        last = kill_one(&mut obs, "victim", last, measure).await;
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

/// `Agent::finish` in two raw parts, on real boxes that held a killed
/// agent: reading the evidence files the v1/v2 backends read, and removing
/// the box's directory in every hierarchy. `finish` then runs on the empty
/// remains only to tidy the agent's state.
async fn finish_parts(limits: &Limits) -> (Vec<Duration>, Vec<Duration>) {
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

/// The directories of box `box_name` under `parent` in every cgroup
/// hierarchy this process is in.
fn box_dirs(parent: &str, box_name: &str) -> Vec<PathBuf> {
    hierarchy_dirs()
        .into_iter()
        .map(|d| d.join(parent).join(box_name))
        .filter(|d| d.is_dir())
        .collect()
}

/// This process's own cgroup directory in every hierarchy (v1 controllers
/// and the v2 tree) that exists.
fn hierarchy_dirs() -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = own
        .lines()
        .flat_map(|line| {
            let mut parts = line.splitn(3, ':');
            let controllers = parts.nth(1).unwrap_or_default();
            let path = parts.next().unwrap_or_default().trim_start_matches('/');
            // The v2 tree is mounted at the top on a pure v2 host and at
            // `unified` on a hybrid one.
            let mounts = if controllers.is_empty() {
                vec![String::new(), "unified".to_string()]
            } else {
                vec![controllers.trim_start_matches("name=").to_string()]
            };
            mounts.into_iter().map(move |mount| Path::new("/sys/fs/cgroup").join(mount).join(path))
        })
        .filter(|dir| dir.is_dir())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
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

/// The disk-bound stages, sampled between the deaths of the service
/// scenario (after its agent started, before the settle), so they see the
/// disk the deaths see: on this shared machine the cost of an fsync swings
/// by 10× with what the other tenants write.
struct DiskProbe {
    _dir: tempfile::TempDir,
    full: Store,
    normal: Store,
    file: std::fs::File,
    postmortem: PostMortem,
    runs: u32,
    samples: DiskSamples,
}

/// What [`DiskProbe`] measured.
#[derive(Default)]
struct DiskSamples {
    full: Vec<Duration>,
    normal: Vec<Duration>,
    fdatasync: Vec<Duration>,
}

impl DiskProbe {
    /// Two fresh stores (FULL and NORMAL) and a scratch file under
    /// `$TMPDIR`, beside the daemon's own state directory.
    fn open(postmortem: PostMortem) -> DiskProbe {
        let dir = tempfile::tempdir().expect("tempdir");
        let open = |name: &str, synchronous| {
            let options = StoreOptions { synchronous, ..StoreOptions::default() };
            Store::open(&dir.path().join(name).join("stockade.db"), options).expect("open store")
        };
        for name in ["full", "normal"] {
            std::fs::create_dir(dir.path().join(name)).expect("store dir");
        }
        let (full, normal) = (open("full", Synchronous::Full), open("normal", Synchronous::Normal));
        let file = tempfile::tempfile_in(dir.path()).expect("a scratch file");
        DiskProbe {
            _dir: dir,
            full,
            normal,
            file,
            postmortem,
            runs: 0,
            samples: Default::default(),
        }
    }

    async fn sample(&mut self) {
        self.runs += 1;
        let full = commit(&self.full, &self.postmortem, self.runs).await;
        let normal = commit(&self.normal, &self.postmortem, self.runs).await;
        let fdatasync = self.fdatasync();
        self.samples.full.push(full);
        self.samples.normal.push(normal);
        self.samples.fdatasync.push(fdatasync);
    }

    /// One durable 4 KiB write: what a WAL commit with `synchronous=FULL`
    /// pays at least once.
    fn fdatasync(&mut self) -> Duration {
        use std::io::{Seek, Write as _};
        let block = [0x5au8; 4096];
        let t0 = Instant::now();
        let offset = u64::from(self.runs % 16) * 4096;
        self.file.seek(std::io::SeekFrom::Start(offset)).expect("seek");
        self.file.write_all(&block).expect("write");
        self.file.sync_data().expect("fdatasync");
        t0.elapsed()
    }
}

/// The commit a death makes, timed: the run's end (with its `RunExited`
/// event) and its post-mortem in one transaction, after an untimed start.
async fn commit(store: &Store, postmortem: &PostMortem, attempt: u32) -> Duration {
    let new = NewRun {
        unit: "victim".into(),
        kind: UnitKind::Service,
        job: None,
        replica: 0,
        attempt,
        pid: Some(4242),
        box_name: format!("victim.0.{attempt}"),
        started_at: postmortem.started_at,
        limits: postmortem.limits.clone(),
    };
    let applied = store.apply(vec![Write::StartRun(new)]).await.expect("start run");
    let run = applied.iter().find_map(|a| a.run()).expect("a run id");
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
    t0.elapsed()
}
