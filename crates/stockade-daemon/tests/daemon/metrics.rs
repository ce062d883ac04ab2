//! `GET /metrics` end to end: the real daemon in-process with real boxes,
//! scraped over its Unix socket and read with an exposition parser
//! (`prometheus-parse`), never compared as a string.
//!
//! The daemon runs inside the test process, so its "own" threads, fds and
//! memory are this process's: the tests add known amounts of each and check
//! that the scrape sees at least that much.

use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;
use std::time::{Duration, Instant};
use stockade_testkit::{TestDaemon, wait_until};

/// Skip (with the reason printed) where boxes cannot be made.
macro_rules! need_boxes {
    () => {
        if !stockade_testkit::can_make_boxes() {
            eprintln!("skipped: needs root and a writable cgroup tree");
            return;
        }
    };
}

const SPEC: &str = r#"
[service.web]
command = ["sleep", "300"]
replicas = 2
limits = { memory = "64MiB", pids = 32 }

[service.once]
command = ["true"]
restart = "never"

[job.broken]
command = ["false"]
"#;

struct Metrics(Scrape);

impl Metrics {
    async fn scrape(d: &TestDaemon) -> Metrics {
        let reply = d.api.get("/metrics").await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let content_type = reply.headers.get("content-type").and_then(|v| v.to_str().ok());
        // No `Accept: application/openmetrics-text`: plain Prometheus text.
        assert_eq!(content_type, Some("text/plain; version=0.0.4; charset=utf-8"));
        let text = String::from_utf8(reply.body.to_vec()).expect("utf-8 exposition");
        assert!(!text.contains("# EOF"), "Prometheus text has no # EOF");
        let lines = text.lines().map(|l| Ok(l.to_string()));
        Metrics(Scrape::parse(lines).expect("a valid exposition"))
    }

    fn samples<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> {
        self.0.samples.iter().filter(move |s| {
            s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
    }

    /// The one sample of `name` with `labels`; panics if there are none or several.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self.samples(name, labels).collect();
        assert_eq!(found.len(), 1, "{name}{labels:?}: expected one sample, got {found:?}");
        match &found[0].value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{name} is not a plain number: {other:?}"),
        }
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.samples(name, labels).next().is_some()
    }
}

#[tokio::test]
async fn a_scrape_counts_replicas_exits_admissions_and_usage() {
    need_boxes!();
    let d = TestDaemon::start("metrics", SPEC).await;
    wait_until("web running twice, once stopped", Duration::from_secs(20), || async {
        let all = d.api.get("/api/services").await.json["items"].clone();
        let replicas = all.as_array()?;
        let running = replicas.iter().filter(|r| r["service"] == "web" && r["state"] == "running");
        let once = replicas.iter().find(|r| r["service"] == "once")?;
        (running.count() == 2 && once["state"] == "stopped").then_some(())
    })
    .await;
    let submitted = d.api.post("/api/jobs", &json!({"template": "broken"})).await;
    assert_eq!(submitted.status, 201, "{:?}", submitted.json);
    let id = submitted.json["id"].as_u64().expect("job id");
    wait_until("the broken job failed", Duration::from_secs(20), || async {
        (d.api.get(&format!("/api/jobs/{id}")).await.json["state"] == "failed").then_some(())
    })
    .await;

    let m = Metrics::scrape(&d).await;
    let web = ("service", "web");
    assert_eq!(m.value("stockade_service_replicas", &[web, ("state", "running")]), 2.0);
    assert_eq!(m.value("stockade_service_replicas", &[web, ("state", "backoff")]), 0.0);
    assert_eq!(
        m.value("stockade_service_replicas", &[("service", "once"), ("state", "stopped")]),
        1.0
    );
    assert_eq!(m.value("stockade_service_restarts_total", &[web]), 0.0);

    let exits = "stockade_exits_total";
    assert_eq!(m.value(exits, &[("unit", "broken"), ("kind", "job"), ("cause", "exited")]), 1.0);
    assert_eq!(m.value(exits, &[("unit", "once"), ("kind", "service"), ("cause", "exited")]), 1.0);
    assert!(!m.has(exits, &[("unit", "web")]), "web never exited");
    // A failure rate is one query: failed over the sum of every final state.
    let finished = "stockade_jobs_finished_total";
    let broken = ("template", "broken");
    assert_eq!(m.value(finished, &[broken, ("state", "failed")]), 1.0);
    assert_eq!(m.value(finished, &[broken, ("state", "succeeded")]), 0.0);
    // ...and by cause, failed over the same sum.
    assert_eq!(m.value("stockade_jobs_failed_total", &[broken, ("cause", "exited")]), 1.0);

    let pool = ("pool", "default");
    assert_eq!(m.value("stockade_admissions_total", &[pool, ("decision", "admitted")]), 1.0);
    assert_eq!(m.value("stockade_pool_jobs", &[pool, ("state", "queued")]), 0.0);
    assert_eq!(m.value("stockade_pool_jobs", &[pool, ("state", "running")]), 0.0);
    assert_eq!(m.value("stockade_queue_wait_seconds_count", &[pool]), 1.0);

    for replica in ["0", "1"] {
        let run = [web, ("replica", replica)];
        assert_eq!(m.value("stockade_run_usage_readable", &run), 1.0);
        // `sleep` and the box's init are two tasks in a box limited to 32.
        assert_eq!(m.value("stockade_run_pids", &run), 2.0);
        assert_eq!(m.value("stockade_run_pids_limit", &run), 32.0);
        assert_eq!(m.value("stockade_run_pids_ratio", &run), 2.0 / 32.0);
        assert_eq!(m.value("stockade_run_memory_limit_bytes", &run), 64.0 * 1024.0 * 1024.0);
        let memory = m.value("stockade_run_memory_bytes", &run);
        let ratio = m.value("stockade_run_memory_ratio", &run);
        assert!(memory < 64.0 * 1024.0 * 1024.0, "replica {replica}: {memory} bytes");
        assert!((ratio - memory / (64.0 * 1024.0 * 1024.0)).abs() < 1e-9);
        assert!(m.value("stockade_run_cpu_seconds_total", &run) >= 0.0);
    }
    assert!(
        !m.has("stockade_run_usage_readable", &[("service", "once")]),
        "no live run, no series"
    );

    d.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_daemon_reports_its_own_threads_fds_and_memory() {
    need_boxes!();
    let d = TestDaemon::start("metrics-self", "").await;
    // The daemon is this process: give it 16 more threads, 200 more fds and
    // 64 MiB more resident memory, all held across the scrape.
    const THREADS: usize = 16;
    const FDS: usize = 200;
    const BALLAST: usize = 64 << 20;
    let release = std::sync::Arc::new(std::sync::Barrier::new(THREADS + 1));
    let parked: Vec<_> = (0..THREADS)
        .map(|_| {
            let release = release.clone();
            std::thread::spawn(move || {
                release.wait();
            })
        })
        .collect();
    let files: Vec<std::fs::File> =
        (0..FDS).map(|_| std::fs::File::open("/dev/null").expect("open /dev/null")).collect();
    let ballast = vec![1u8; BALLAST];

    let m = Metrics::scrape(&d).await;
    let threads = m.value("process_threads", &[]);
    assert!(threads > THREADS as f64, "{threads} threads, with {THREADS} parked here");
    let fds = m.value("process_open_fds", &[]);
    assert!(fds > FDS as f64, "{fds} fds, with {FDS} open here");
    let rss = m.value("process_resident_memory_bytes", &[]);
    assert!(rss > BALLAST as f64, "{rss} bytes resident, with {BALLAST} touched here");
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    assert_eq!(Some(m.value("process_max_fds", &[]) as u64), nofile);
    let started = m.value("process_start_time_seconds", &[]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert!(started <= now.as_secs_f64() && started > now.as_secs_f64() - 600.0, "{started}");
    assert!(m.has("stockade_daemon_info", &[("version", env!("CARGO_PKG_VERSION"))]));

    release.wait();
    for thread in parked {
        thread.join().expect("parked thread");
    }
    drop((files, ballast));
    d.stop().await.expect("clean stop");
}

/// Not a test: how long one scrape takes with 100 live replicas.
/// `cargo nextest run -p stockade-daemon --test metrics --run-ignored only --no-capture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run it by hand"]
async fn measure_a_scrape_with_100_replicas() {
    need_boxes!();
    let spec = r#"
[service.herd]
command = ["sleep", "300"]
replicas = 100
limits = { memory = "64MiB", pids = 32 }
"#;
    let d = TestDaemon::start("metrics-bench", spec).await;
    wait_until("100 replicas running", Duration::from_secs(120), || async {
        let all = d.api.get("/api/services").await.json["items"].clone();
        let running = all.as_array()?.iter().filter(|r| r["state"] == "running").count();
        (running == 100).then_some(())
    })
    .await;
    let m = Metrics::scrape(&d).await;
    let readable = m
        .samples("stockade_run_usage_readable", &[])
        .filter(|s| matches!(s.value, Value::Gauge(v) | Value::Untyped(v) if v == 1.0));
    assert_eq!(readable.count(), 100, "every replica's usage is in the scrape");
    // /api/status reads the same 100 boxes; the difference is the encoding.
    for path in ["/metrics", "/api/status"] {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..50 {
            let started = Instant::now();
            let reply = d.api.get(path).await;
            times.push(started.elapsed());
            bytes = reply.body.len();
        }
        times.sort();
        println!(
            "{path} with 100 replicas: median {:?}, p90 {:?}, min {:?}, max {:?}, {bytes} bytes",
            times[times.len() / 2],
            times[times.len() * 9 / 10],
            times[0],
            times[times.len() - 1],
        );
    }
    d.stop().await.expect("clean stop");
}
