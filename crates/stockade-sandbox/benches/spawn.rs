//! Spawn benchmarks (not timed tests): run with
//! `cargo bench -p stockade-sandbox --bench spawn`. Prints a markdown table of
//! medians and p90s and the ratio to the bare fork+exec floor.
//!
//! Rows:
//! - bare `/bin/true` spawn+wait through std (posix_spawn) — the floor;
//! - the same with a no-op `pre_exec` (forces fork, as any join hook does);
//! - the v1 cgroup join alone: the child times its own `write("0")` to five
//!   pre-opened `cgroup.procs` fds with `clock_gettime` inside `pre_exec`;
//! - the same fork path with the join, end to end;
//! - `Sandbox` on the none backend: spawn+wait+finish without cgroups;
//! - `Sandbox` on the host backend: fresh limited box, spawn, wait, finish
//!   (mkdir ×5, limits, join, evidence, rmdir ×5);
//! - walled boxes (user/pid/mount/ipc/uts namespaces, read-only root,
//!   caps, seccomp, the init as pid 1): spawn+wait+finish of `/bin/true` on
//!   the host backend and on the none backend, and the ratio walled/unwalled;
//! - 1,000 concurrent boxed `sleep`s, unwalled and walled: spawn all, then
//!   kill all, wall time, the spawning side's thread count while they run,
//!   and (walled) each init's RSS and PSS from `/proc/<pid>/smaps_rollup`.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stockade_proto::Limits;
use stockade_sandbox::{
    BackendChoice, BackendKind, EndReason, Sandbox, SandboxConfig, SpawnSpec, Walls,
};

const ITERATIONS: usize = 200;
const CONCURRENT: usize = 1000;
const MIB: u64 = 1024 * 1024;
const ISOLATED: usize = 30;
const ISOLATION_GAP: Duration = Duration::from_millis(100);

struct Row {
    metric: String,
    median: Duration,
    p90: Duration,
}

fn row(metric: &str, mut samples: Vec<Duration>) -> Row {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Row { metric: metric.to_string(), median: at(0.5), p90: at(0.9) }
}

fn fmt(d: Duration) -> String {
    if d >= Duration::from_millis(100) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }
}

fn main() {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    stockade_sandbox::raise_nofile_limit().expect("raise nofile");
    let parent = format!("stockade-bench-{}", std::process::id());
    let config = SandboxConfig { parent: parent.clone(), ..SandboxConfig::default() };
    let sandbox = Sandbox::new(config.clone()).expect("sandbox");
    let none =
        Sandbox::new(SandboxConfig { mode: BackendChoice::None, ..config }).expect("none sandbox");
    println!(
        "backend: {} ({} iterations per row, Threads at start: {})",
        sandbox.kind(),
        ITERATIONS,
        threads()
    );

    let mut rows = Vec::new();
    rows.push(row("bare spawn+wait `/bin/true` (std, posix_spawn) — floor", bare(false)));
    rows.push(row("bare fork+exec+wait `/bin/true` (no-op pre_exec)", bare(true)));
    let join_dirs = (sandbox.kind() == BackendKind::V1).then(|| make_join_dirs(&parent));
    if let Some(dirs) = &join_dirs {
        let (join, total) = joined(dirs);
        rows.push(row("  v1 join alone: child writes \"0\" to 5 cgroup.procs (in pre_exec)", join));
        rows.push(row("  fork+join+exec+wait `/bin/true` (5 v1 hierarchies)", total));
        let (join, total) = joined_isolated(dirs);
        rows.push(row(
            &format!(
                "  v1 join alone, isolated spawns ({ISOLATED} spawns {ISOLATION_GAP:?} apart)"
            ),
            join,
        ));
        rows.push(row("  fork+join+exec+wait, isolated spawns", total));
    }
    let scratch = tempfile::tempdir().expect("scratch dir");
    let ws = |name: &str| scratch.path().join(name);
    rows.push(row(
        "Sandbox none backend: spawn+wait+finish `/bin/true`",
        boxed(&none, "n", None).await,
    ));
    rows.push(row(
        "Sandbox none backend, walled: spawn+wait+finish `/bin/true`",
        boxed(&none, "nw", Some(&ws("nw"))).await,
    ));
    let mut ratio = None;
    if sandbox.kind() != BackendKind::None {
        let plain = row(
            &format!("Sandbox {}: fresh limited box + spawn+wait+finish", sandbox.kind()),
            boxed(&sandbox, "b", None).await,
        );
        let walled = row(
            &format!(
                "Sandbox {}, walled: fresh limited walled box + spawn+wait+finish",
                sandbox.kind()
            ),
            boxed(&sandbox, "bw", Some(&ws("bw"))).await,
        );
        ratio = Some(walled.median.as_secs_f64() / plain.median.as_secs_f64());
        rows.push(plain);
        rows.push(walled);
    }
    let floor = rows[0].median;
    println!();
    println!("| metric | median | p90 | median / floor |");
    println!("|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2}× |",
            r.metric,
            fmt(r.median),
            fmt(r.p90),
            r.median.as_secs_f64() / floor.as_secs_f64()
        );
    }
    if let Some(ratio) = ratio {
        println!();
        println!("walled / unwalled median (host backend): {ratio:.2}×");
    }
    let target = if sandbox.kind() == BackendKind::None { &none } else { &sandbox };
    concurrent(target, None).await;
    concurrent(target, Some(&ws("cw"))).await;
    drop(join_dirs);
    remove_tree_everywhere(&parent);
}

fn bare(fork: bool) -> Vec<Duration> {
    (0..ITERATIONS)
        .map(|_| {
            let mut cmd = std::process::Command::new("/bin/true");
            if fork {
                // SAFETY: the hook does nothing.
                unsafe { cmd.pre_exec(|| Ok(())) };
            }
            let start = Instant::now();
            cmd.status().expect("spawn /bin/true");
            start.elapsed()
        })
        .collect()
}

/// One bench cgroup per v1 hierarchy the sandbox uses, reused by every child.
fn make_join_dirs(parent: &str) -> Vec<PathBuf> {
    ["memory", "pids", "cpu", "cpuacct", "freezer"]
        .iter()
        .map(|c| {
            let dir = own_dir(c).join(parent).join("join-bench");
            std::fs::create_dir_all(&dir).expect("mkdir join-bench");
            dir
        })
        .collect()
}

/// Isolated spawns: the join's RCU grace-period wait shows when spawns are
/// not back to back.
fn joined_isolated(dirs: &[PathBuf]) -> (Vec<Duration>, Vec<Duration>) {
    let mut join = Vec::new();
    let mut total = Vec::new();
    for _ in 0..ISOLATED {
        std::thread::sleep(ISOLATION_GAP);
        let (j, t) = joined_n(dirs, 1);
        join.extend(j);
        total.extend(t);
    }
    (join, total)
}

fn joined(dirs: &[PathBuf]) -> (Vec<Duration>, Vec<Duration>) {
    joined_n(dirs, ITERATIONS)
}

fn joined_n(dirs: &[PathBuf], n: usize) -> (Vec<Duration>, Vec<Duration>) {
    let mut join = Vec::new();
    let mut total = Vec::new();
    for _ in 0..n {
        let fds: Vec<OwnedFd> = dirs
            .iter()
            .map(|d| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(d.join("cgroup.procs"))
                    .expect("open procs")
                    .into()
            })
            .collect();
        let (mut rd, wr) = std::io::pipe().expect("pipe");
        let wr_fd = wr.as_raw_fd();
        let mut cmd = std::process::Command::new("/bin/true");
        // SAFETY: only write(2) and clock_gettime(2), both async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                let t0 = now_ns();
                for fd in &fds {
                    rustix::io::write(fd, b"0")?;
                }
                let spent = now_ns() - t0;
                libc::write(wr_fd, (&spent as *const u64).cast(), 8);
                Ok(())
            });
        }
        let start = Instant::now();
        cmd.status().expect("spawn joined /bin/true");
        total.push(start.elapsed());
        drop(cmd);
        drop(wr);
        let mut buf = [0u8; 8];
        rd.read_exact(&mut buf).expect("join time from the child");
        join.push(Duration::from_nanos(u64::from_ne_bytes(buf)));
    }
    (join, total)
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn limits() -> Limits {
    Limits {
        memory: Some(64 * MIB),
        pids: Some(64),
        cpus: Some(1.0),
        nofile: Some(1024),
        ..Limits::default()
    }
}

/// Walls with the workspace `<base>/<i>` and a clean env.
fn walls_for(base: Option<&Path>, i: usize) -> (Option<Walls>, Vec<(String, String)>) {
    match base {
        None => (None, Vec::new()),
        Some(base) => {
            let mut walls = Walls::new(base.join(i.to_string()));
            walls.tmp_size = 16 * MIB;
            (Some(walls), vec![("PATH".into(), "/usr/bin:/bin".into())])
        }
    }
}

async fn boxed(sandbox: &Sandbox, prefix: &str, walled: Option<&Path>) -> Vec<Duration> {
    let mut samples = Vec::new();
    for i in 0..ITERATIONS {
        let (walls, env) = walls_for(walled, i);
        let spec = SpawnSpec {
            box_name: format!("{prefix}/{i}"),
            argv: vec!["/bin/true".into()],
            limits: limits(),
            walls,
            env,
            ..SpawnSpec::default()
        };
        let start = Instant::now();
        let mut agent = sandbox.spawn(spec).await.expect("spawn");
        let status = agent.wait().await.expect("wait");
        let death = agent.finish(status, EndReason::Exited).await;
        samples.push(start.elapsed());
        assert_eq!(death.cause, stockade_proto::ExitCause::Exited { code: 0 });
    }
    samples
}

async fn concurrent(sandbox: &Sandbox, walled: Option<&Path>) {
    let start = Instant::now();
    let mut agents = Vec::with_capacity(CONCURRENT);
    let prefix = if walled.is_some() { "cw" } else { "c" };
    let mut each = Vec::with_capacity(CONCURRENT);
    for i in 0..CONCURRENT {
        let (walls, env) = walls_for(walled, i);
        let spec = SpawnSpec {
            box_name: format!("{prefix}/{i}"),
            argv: vec!["sleep".into(), "1000".into()],
            limits: limits(),
            walls,
            env,
            ..SpawnSpec::default()
        };
        let one = Instant::now();
        agents.push(sandbox.spawn(spec).await.expect("spawn sleep"));
        each.push(one.elapsed());
    }
    let spawned = start.elapsed();
    let median_of = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v[v.len() / 2]
    };
    let (first, last) = (median_of(&each[..100]), median_of(&each[CONCURRENT - 100..]));
    let threads_running = threads();
    let fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    let own_rss = rollup(std::process::id()).map(|(rss, _)| rss);
    // Each walled box's init (the pid the agent reports): its own RSS and PSS.
    let inits: Vec<(u64, u64)> = if walled.is_some() {
        agents.iter().filter_map(|a| rollup(a.pid())).collect()
    } else {
        Vec::new()
    };
    let kill_start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut agent in agents {
        tasks.spawn(async move {
            let _ = agent.signal_all(libc::SIGKILL);
            let status = agent.wait().await.expect("wait");
            agent.finish(status, EndReason::Stopped).await
        });
    }
    while let Some(death) = tasks.join_next().await {
        assert_eq!(death.expect("task").cause, stockade_proto::ExitCause::Stopped);
    }
    let killed = kill_start.elapsed();
    println!();
    let kind = if walled.is_some() { "walled, " } else { "" };
    println!("| {CONCURRENT} concurrent boxed `sleep 1000` ({kind}{}) | value |", sandbox.kind());
    println!("|---|---|");
    println!(
        "| spawn all (wall) | {} ({} per spawn) |",
        fmt(spawned),
        fmt(spawned / CONCURRENT as u32)
    );
    println!("| one spawn, median of the first / last 100 | {} / {} |", fmt(first), fmt(last));
    println!("| kill all + reap + finish + remove boxes (wall) | {} |", fmt(killed));
    println!(
        "| spawning side threads while all run (/proc/self/status Threads) | {threads_running} |"
    );
    println!("| spawning side open fds while all run | {fds} |");
    if let Some(rss) = own_rss {
        println!("| spawning side RSS while all run | {} KiB |", rss);
    }
    if !inits.is_empty() {
        let (mut rss, mut pss): (Vec<u64>, Vec<u64>) = inits.iter().copied().unzip();
        rss.sort();
        pss.sort();
        let mid = |v: &[u64]| v[v.len() / 2];
        println!(
            "| init RSS per box (median / max, smaps_rollup, {} inits) | {} / {} KiB |",
            inits.len(),
            mid(&rss),
            rss[rss.len() - 1]
        );
        println!(
            "| init PSS per box (median / max) | {} / {} KiB |",
            mid(&pss),
            pss[pss.len() - 1]
        );
    }
    println!("| threads after teardown | {} |", threads());
}

/// `(Rss, Pss)` in KiB from `/proc/<pid>/smaps_rollup`.
fn rollup(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let kib = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
    };
    Some((kib("Rss:")?, kib("Pss:")?))
}

fn threads() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Threads:")).map(|l| l[8..].trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn own_dir(controller: &str) -> PathBuf {
    stockade_sandbox::own_cgroup_dir(controller)
        .unwrap_or_else(|| Path::new("/sys/fs/cgroup").join(controller))
}

/// Remove the bench's parent subtree in every hierarchy, deepest first.
fn remove_tree_everywhere(parent: &str) {
    fn remove(dir: &Path) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
                remove(&e.path());
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    for c in ["memory", "pids", "cpu", "cpuacct", "freezer"] {
        remove(&own_dir(c).join(parent));
    }
}
