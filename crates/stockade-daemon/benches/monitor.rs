//! What one monitor sample costs: `engine.status()` with N live replicas (the
//! engine reads every box's cpu, memory and pids counters) — the only work
//! the monitor's sampler does besides a few map updates per replica.
//! `cargo bench -p stockade-daemon --bench monitor`
//!
//! The real daemon runs in-process ([`TestDaemon`]) with its monitor off, so
//! only the bench asks for status; agents are `sleep 600` in real boxes. For
//! each N the bench takes `SAMPLES` status calls back to back and reports the
//! latency (p50, p90, max) and the process's cpu time per call (utime+stime
//! from `/proc/self/stat`, 10 ms ticks, over the whole run), which with the
//! default 5 s interval is the monitor's steady cost.

use std::time::{Duration, Instant};
use stockade_testkit::{TestDaemon, wait_until};

const SAMPLES: usize = 200;
const REPLICAS: [usize; 3] = [10, 100, 300];

fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th of the whole line.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

async fn measure(replicas: usize) {
    let spec = format!(
        "[monitor]\nenabled = false\n\n[service.agent]\ncommand = [\"sleep\", \"600\"]\nreplicas = {replicas}\nlimits = {{ memory = \"64MiB\", pids = 16, cpus = 0.5 }}\n"
    );
    let d = TestDaemon::start("bench-monitor", &spec).await;
    let engine = d.running.engine.clone();
    wait_until("every replica running", Duration::from_secs(300), || async {
        let status = engine.status().await.ok()?;
        status.services.iter().all(|r| r.pid.is_some()).then_some(())
    })
    .await;
    let mut times = Vec::with_capacity(SAMPLES);
    let ticks = cpu_ticks();
    for _ in 0..SAMPLES {
        let start = Instant::now();
        let status = engine.status().await.expect("status");
        times.push(start.elapsed());
        let read = status.services.iter().filter(|r| r.usage.is_some()).count();
        assert_eq!(read, replicas, "every box's usage was read");
    }
    let cpu_ms = (cpu_ticks() - ticks) as f64 * 1000.0 / 100.0 / SAMPLES as f64;
    times.sort();
    println!(
        "{replicas:>4} replicas: status p50 {:>8.2?}  p90 {:>8.2?}  max {:>8.2?}  cpu/call {cpu_ms:.2} ms  (at a 5 s interval: {:.3} % of a core)",
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        times[times.len() - 1],
        cpu_ms / 5000.0 * 100.0,
    );
    d.stop().await.expect("daemon stops");
}

fn main() {
    if !stockade_testkit::can_make_boxes() {
        eprintln!("skipped: needs root and a writable cgroup tree");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("monitor sample cost: {SAMPLES} engine.status() calls per row");
    for replicas in REPLICAS {
        runtime.block_on(measure(replicas));
    }
}
