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
//! The service scenario runs on two daemons at once, one with
//! `[daemon] synchronous = "full"` (the default) and one with `"normal"`,
//! their deaths interleaved round by round so both see the same disk; the
//! table puts them side by side with the median of the per-round
//! differences. The job and self-stamp scenarios run with the default, FULL.
//!
//! Breakdown:
//! - inside the real daemon, without touching it: inotify on its cgroup
//!   parent sees the box's rmdir, the last step of `Agent::finish`, which
//!   splits kill → committed into kill → box removed and box removed →
//!   committed (the host snapshot is read on a blocking thread while the
//!   box is finished, so it is on the critical path only where it outlasts
//!   finish + drain);
//! - each stage alone on the same machine: kill → main process reaped
//!   (`Agent::next_event`), `Agent::finish` (kill pass, evidence, rmdir; and
//!   raw evidence reads and raw rmdirs on their own), the output pipes at
//!   EOF, the host snapshot the watcher takes at death (`HostFacts::read`);
//! - the disk-bound ones — the store commit of `EndRun` + `PostMortem` (a
//!   real post-mortem from the daemon), FULL and NORMAL, and a raw 4 KiB
//!   write + fdatasync — sampled before every service death, because
//!   fsync latency on this shared machine moves by 10× from minute to
//!   minute and stages measured at another time do not add up.

mod disk;
mod kill;
mod observe;
mod removals;
mod scenarios;
mod service;
mod stages;
mod summary;
mod table;

use disk::DiskSamples;
use scenarios::{kill_job, self_stamp_service};
use service::{ServiceRuns, kill_services};
use stages::{finish_parts, host_snapshots, sandbox_stages};
use std::path::Path;
use std::time::Duration;
use summary::{StageMedians, print_summary};
use table::{median, pair, print_pairs, print_table, row};

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

    let ServiceRuns { full, normal, limits, disk } = kill_services().await;
    let job = kill_job().await;
    let stamp = self_stamp_service().await;

    let mut side_by_side = vec![
        pair("service, kill → committed (broadcast receipt)", &full.commit, &normal.commit),
        pair("service, kill → SSE client receipt", &full.sse, &normal.sse),
        pair("service, committed → SSE (same death)", &full.commit_to_sse, &normal.commit_to_sse),
        pair(
            "service, kill → box removed (inotify on the daemon's cgroups)",
            &full.box_removed,
            &normal.box_removed,
        ),
        pair(
            "service, box removed → committed",
            &full.removed_to_commit,
            &normal.removed_to_commit,
        ),
    ];
    print_pairs(
        "end to end, service: synchronous=FULL vs NORMAL (two daemons, deaths interleaved)",
        &mut side_by_side,
    );

    let mut e2e = vec![
        row("service FULL, kill → committed", full.commit.clone()),
        row("service NORMAL, kill → committed", normal.commit.clone()),
        row("service FULL, kill → SSE client receipt", full.sse.clone()),
        row("service NORMAL, kill → SSE client receipt", normal.sse.clone()),
        row("service FULL, kill → box removed", full.box_removed.clone()),
        row("service NORMAL, kill → box removed", normal.box_removed.clone()),
        row("service FULL, box removed → committed", full.removed_to_commit.clone()),
        row("service NORMAL, box removed → committed", normal.removed_to_commit.clone()),
        row("job FULL, kill → committed", job.commit.clone()),
        row("job FULL, kill → SSE client receipt", job.sse.clone()),
        row("job FULL, kill → box removed", job.box_removed.clone()),
        row("job FULL, box removed → committed", job.removed_to_commit.clone()),
    ];
    if let Some(stamp) = &stamp {
        e2e.push(row("service FULL, self-stamp exit → committed", stamp.commit.clone()));
        e2e.push(row("service FULL, self-stamp exit → SSE client receipt", stamp.sse.clone()));
    }
    print_table("end to end (real daemon, real boxes), all quantiles", &mut e2e);

    let sandbox = sandbox_stages(&limits).await;
    let (evidence, rmdir) = finish_parts(&limits).await;
    let snapshot = host_snapshots().await;
    let DiskSamples { full: commit_full, normal: commit_normal, fdatasync } = disk;
    let stages = StageMedians {
        reap: median(&sandbox.0),
        finish: median(&sandbox.1),
        drain: median(&sandbox.2),
        snapshot: median(&snapshot),
        full: median(&commit_full),
        normal: median(&commit_normal),
    };
    let mut parts = vec![
        row("kill → main process reaped (sandbox alone)", sandbox.0),
        row("`Agent::finish`: kill pass, evidence, cgroup rmdir", sandbox.1),
        row("  of which: reading the evidence files (raw reads)", evidence),
        row("  of which: rmdir of the box in every hierarchy (raw)", rmdir),
        row("output pipes at EOF after finish", sandbox.2),
        row("host snapshot at death (spawn_blocking + `HostFacts::read`)", snapshot),
        row("store: EndRun + PostMortem commit, FULL (before every service death)", commit_full),
        row(
            "store: EndRun + PostMortem commit, NORMAL (before every service death)",
            commit_normal,
        ),
        row("floor: 4 KiB pwrite + fdatasync on $TMPDIR (before every service death)", fdatasync),
    ];
    print_table("breakdown (each stage alone)", &mut parts);

    print_summary(&stages, &full, &normal);
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
