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

mod disk;
mod observe;
mod removals;
mod scenarios;
mod stages;
mod table;

use disk::DiskSamples;
use scenarios::{kill_job, kill_service, self_stamp_service};
use stages::{finish_parts, host_snapshots, sandbox_stages};
use std::path::Path;
use std::time::Duration;
use table::{fmt, median, print_table, row};

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
