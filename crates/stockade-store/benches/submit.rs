//! Durable job submissions per second, through the real `Store` on a real
//! file (a tempdir under `$TMPDIR`, so the filesystem and its fsync are what
//! is measured), with `synchronous=FULL` and, for comparison, `NORMAL`:
//!
//! - one by one: each `submit_job` awaited before the next (one commit each);
//! - concurrent: 64 tasks submitting at once (group commit shares commits);
//! - batched: `submit_jobs` with 100 jobs per call, one call at a time;
//!
//! and then the time `Store::open` takes (integrity check included) on the
//! store the concurrent run filled.
//!
//! `cargo bench -p stockade-store --bench submit`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use stockade_store::{NewJob, Store, StoreOptions, Synchronous};

const ONE_BY_ONE: usize = 2_000;
const CONCURRENT_TASKS: usize = 64;
const CONCURRENT_PER_TASK: usize = 500;
const BATCH: usize = 100;
const BATCHES: usize = 300;

fn job(i: usize) -> NewJob {
    NewJob {
        template: "agent".to_string(),
        pool: "default".to_string(),
        args: vec!["--task".to_string(), format!("task-{i}")],
        env: BTreeMap::from([("MODE".to_string(), "bench".to_string())]),
        priority: 0,
        max_attempts: 3,
        submitted_at: 1_700_000_000_000,
        idempotency_key: None,
        source: stockade_proto::JobSource::Api,
    }
}

/// One measured workload: jobs committed, time taken, transactions used.
struct Sample {
    jobs: usize,
    elapsed: Duration,
    transactions: u64,
    latency_p50: Option<Duration>,
    latency_p99: Option<Duration>,
}

impl Sample {
    fn per_second(&self) -> f64 {
        self.jobs as f64 / self.elapsed.as_secs_f64()
    }
}

fn open(dir: &tempfile::TempDir, name: &str, synchronous: Synchronous) -> Store {
    let opts = StoreOptions { synchronous, ..StoreOptions::default() };
    Store::open(&dir.path().join(name), opts).expect("open store")
}

async fn one_by_one(store: &Store) -> Sample {
    let before = store.stats().transactions;
    let mut latencies = Vec::with_capacity(ONE_BY_ONE);
    let start = Instant::now();
    for i in 0..ONE_BY_ONE {
        let t = Instant::now();
        store.submit_job(job(i)).await.expect("submit");
        latencies.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Sample {
        jobs: ONE_BY_ONE,
        elapsed,
        transactions: store.stats().transactions - before,
        latency_p50: Some(latencies[latencies.len() / 2]),
        latency_p99: Some(latencies[latencies.len() * 99 / 100]),
    }
}

async fn concurrent(store: &Store) -> Sample {
    let before = store.stats().transactions;
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..CONCURRENT_PER_TASK {
                    store.submit_job(job(t * CONCURRENT_PER_TASK + i)).await.expect("submit");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    Sample {
        jobs: CONCURRENT_TASKS * CONCURRENT_PER_TASK,
        elapsed: start.elapsed(),
        transactions: store.stats().transactions - before,
        latency_p50: None,
        latency_p99: None,
    }
}

async fn batched(store: &Store) -> Sample {
    let before = store.stats().transactions;
    let start = Instant::now();
    for b in 0..BATCHES {
        let jobs = (0..BATCH).map(|i| job(b * BATCH + i)).collect();
        store.submit_jobs(jobs).await.expect("submit_jobs");
    }
    Sample {
        jobs: BATCH * BATCHES,
        elapsed: start.elapsed(),
        transactions: store.stats().transactions - before,
        latency_p50: None,
        latency_p99: None,
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2}", d.as_secs_f64() * 1000.0)).unwrap_or_else(|| "-".to_string())
}

fn row(workload: &str, sync: &str, s: &Sample) {
    println!(
        "| {workload:<34} | {sync:<6} | {:>6} | {:>10.0} | {:>6} | {:>8.1} | {:>7} | {:>7} |",
        s.jobs,
        s.per_second(),
        s.transactions,
        s.jobs as f64 / s.transactions.max(1) as f64,
        ms(s.latency_p50),
        ms(s.latency_p99),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    println!("store files in {}", dir.path().display());
    println!(
        "| {:<34} | {:<6} | {:>6} | {:>10} | {:>6} | {:>8} | {:>7} | {:>7} |",
        "workload", "sync", "jobs", "jobs/s", "txns", "jobs/txn", "p50 ms", "p99 ms"
    );
    println!(
        "|{:-<36}|{:-<8}|{:-<8}|{:-<12}|{:-<8}|{:-<10}|{:-<9}|{:-<9}|",
        "", "", "", "", "", "", "", ""
    );
    runtime.block_on(async {
        for (sync, name) in [(Synchronous::Full, "FULL"), (Synchronous::Normal, "NORMAL")] {
            let store = open(&dir, &format!("one-{name}.sqlite3"), sync);
            row("one by one (awaited each)", name, &one_by_one(&store).await);
            let store = open(&dir, &format!("conc-{name}.sqlite3"), sync);
            row(
                &format!("{CONCURRENT_TASKS} concurrent submitters"),
                name,
                &concurrent(&store).await,
            );
            let store = open(&dir, &format!("batch-{name}.sqlite3"), sync);
            row(&format!("submit_jobs, {BATCH} per call"), name, &batched(&store).await);
        }
    });
    // Reopening runs the integrity check over everything written above.
    let path = dir.path().join("conc-FULL.sqlite3");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let start = Instant::now();
    let store = Store::open(&path, StoreOptions::default()).expect("reopen");
    println!(
        "\nreopen with integrity_check: {:.1} ms for {} jobs ({:.1} MiB)",
        start.elapsed().as_secs_f64() * 1000.0,
        CONCURRENT_TASKS * CONCURRENT_PER_TASK,
        size as f64 / (1024.0 * 1024.0)
    );
    drop(store);
}
