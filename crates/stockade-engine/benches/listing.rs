//! What a job listing costs on the engine task with 1k, 10k and 100k queued
//! jobs: `GET /api/jobs?limit=50` (`jobs(limit = 50)`) and a monitor tick
//! (`jobs(state = running)`), each answered by the real engine over its
//! command channel, with a real store and the recording launcher (no boxes).
//! `cargo bench -p stockade-engine --bench listing`
//!
//! One job holds the only slot of the pool, so every other job queues.
//! Each row: p50, p90 and max of `SAMPLES` calls back to back.

use std::sync::Arc;
use std::time::{Duration, Instant};
use stockade_engine::{EngineConfig, RecordingLauncher};
use stockade_proto::{HostSnapshot, JobRequest, JobState};
use stockade_spec::Spec;
use stockade_store::{JobFilter, Store, StoreOptions};

const SAMPLES: usize = 200;
const QUEUED: [usize; 3] = [1_000, 10_000, 100_000];

const SPEC: &str = r#"
[pool.hold]
max_concurrency = 1
max_queued = 1000000

[job.t]
command = ["true"]
pool = "hold"
"#;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

async fn measure(queued: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = Spec::parse(SPEC, &dir.path().join("stockade.toml"), &|_| None).expect("spec");
    let store = Store::open(&dir.path().join("state.db"), StoreOptions::default()).expect("store");
    let launcher = RecordingLauncher::new();
    let config = EngineConfig {
        spec: Arc::new(spec),
        store,
        launcher: Box::new(launcher.clone()),
        sandbox: "fake".into(),
        sandbox_warnings: vec![],
        host_snapshot: Arc::new(HostSnapshot::default),
        host_samples: None,
    };
    let (engine, task) = stockade_engine::start(config).expect("engine");
    let job = || JobRequest { template: "t".into(), ..JobRequest::default() };
    let mut left = queued + 1;
    while left > 0 {
        let n = left.min(1000);
        engine.submit_many((0..n).map(|_| job()).collect()).await.expect("submit");
        left -= n;
    }
    let rows = [
        ("GET /api/jobs?limit=50", JobFilter { limit: Some(50), ..JobFilter::default() }),
        (
            "monitor tick (running only)",
            JobFilter { states: vec![JobState::Running], ..JobFilter::default() },
        ),
    ];
    for (what, filter) in rows {
        let mut times = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let start = Instant::now();
            let views = engine.jobs(filter.clone()).await.expect("jobs");
            times.push(start.elapsed());
            assert!(!views.is_empty());
        }
        times.sort();
        println!(
            "| {queued:>7} | {what:<28} | {:>10.3?} | {:>10.3?} | {:>10.3?} |",
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            times[times.len() - 1],
        );
    }
    engine.shutdown().await.expect("shutdown");
    task.await.expect("engine task");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("job listing on the engine task, {SAMPLES} calls per row\n");
    println!("| queued  | call                         | p50        | p90        | max        |");
    println!("|---------|------------------------------|------------|------------|------------|");
    for queued in QUEUED {
        runtime.block_on(measure(queued));
    }
}
