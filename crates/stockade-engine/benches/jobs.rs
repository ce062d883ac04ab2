//! What the engine spends per short job, end to end through its real loop
//! and a real store, with the recording launcher standing in for boxes (so
//! no process is spawned): submit in batches of 100, and end every launched
//! run with `exited 0` as soon as it is seen, at `max_concurrency = 16`.
//! Each job is about six engine inputs (submit commit, admission, launch
//! commit, started, exited, end commit). Reports wall time and this
//! process's CPU per job (utime+stime from `/proc/self/stat`, 10 ms ticks).
//! `cargo bench -p stockade-engine --bench jobs`

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockade_engine::{EngineConfig, RecordingLauncher};
use stockade_proto::{ExitCause, HostSnapshot, JobRequest, JobState};
use stockade_spec::Spec;
use stockade_store::{JobFilter, Store, StoreOptions};

const JOBS: [usize; 2] = [1_000, 5_000];

const SPEC: &str = r#"
[pool.p16]
max_concurrency = 16
max_queued = 1000000

[job.t]
command = ["true"]
pool = "p16"
"#;

fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

async fn measure(jobs: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = Spec::parse(SPEC, &dir.path().join("stockade.toml"), &|_| None).expect("spec");
    let store = Store::open(&dir.path().join("state.db"), StoreOptions::default()).expect("store");
    let launcher = RecordingLauncher::new();
    let config = EngineConfig {
        spec: Arc::new(spec),
        store: store.clone(),
        launcher: Box::new(launcher.clone()),
        sandbox: "fake".into(),
        sandbox_warnings: vec![],
        host_snapshot: Arc::new(HostSnapshot::default),
        host_samples: None,
    };
    let (engine, task) = stockade_engine::start(config).expect("engine");
    let job = || JobRequest { template: "t".into(), ..JobRequest::default() };
    let (t0, ticks) = (Instant::now(), cpu_ticks());
    for _ in 0..jobs / 100 {
        engine.submit_many((0..100).map(|_| job()).collect()).await.expect("submit");
    }
    let mut ended = HashSet::new();
    let live = JobFilter {
        states: vec![JobState::Queued, JobState::Running],
        limit: Some(1),
        ..JobFilter::default()
    };
    loop {
        for run in launcher.live() {
            if ended.insert(run) {
                launcher.exit(run, ExitCause::Exited { code: 0 });
            }
        }
        if ended.len() == jobs && engine.jobs(live.clone()).await.expect("jobs").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let wall = t0.elapsed();
    let cpu_ms = (cpu_ticks() - ticks) as f64 * 10.0;
    let done = store
        .jobs(&JobFilter {
            states: vec![JobState::Succeeded],
            limit: Some(jobs + 1),
            ..JobFilter::default()
        })
        .expect("store")
        .len();
    assert_eq!(done, jobs, "every job succeeded");
    println!(
        "| {jobs:>6} | {:>8.2?} | {:>9.0} | {:>12.1} µs |",
        wall,
        jobs as f64 / wall.as_secs_f64(),
        cpu_ms * 1000.0 / jobs as f64,
    );
    engine.shutdown().await.expect("shutdown");
    task.await.expect("engine task");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("short jobs through the engine loop and store (fake launcher), pool of 16\n");
    println!("| jobs   | wall     | jobs/s    | CPU per job     |");
    println!("|--------|----------|-----------|-----------------|");
    for jobs in JOBS {
        runtime.block_on(measure(jobs));
    }
}
