//! No task blocks the runtime (issue 11, item 5): the real daemon runs on a
//! **current-thread** runtime next to a 1 ms ticker that records how late it
//! wakes, while a second thread drives every route through the real socket
//! (submit, list, get, logs, cancel, services, events, metrics, post-mortems,
//! status, health). A handler, stream or engine step that holds the one
//! thread for more than [`BUDGET`] makes a tick that late, and the test fails
//! naming the route being driven at the time.
//!
//! Lateness is wall time minus the time the runtime thread spent waiting
//! for a CPU (`/proc/thread-self/schedstat`, field 2): on a loaded machine
//! the kernel may preempt the thread for longer than the budget, which is
//! not the daemon blocking. A `std::thread::sleep` or a slow read still
//! counts in full (the thread sleeps or runs; it does not wait for a CPU).

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stockade_testkit::{Api, TestDaemon, wait_until};
use tokio::time::MissedTickBehavior;

/// The longest any task may hold the runtime thread.
const BUDGET: Duration = Duration::from_millis(10);

const SPEC: &str = r#"
[job.quick]
command = ["sh", "-c", "echo line one; echo line two"]
isolation = "none"

[job.broken]
command = ["sh", "-c", "echo about to fail >&2; exit 3"]
isolation = "none"

[job.slow]
command = ["sleep", "30"]
isolation = "none"

[service.web]
command = ["sleep", "600"]
isolation = "none"
"#;

/// The route being driven now, and the worst lateness seen per route.
#[derive(Default)]
struct Watch {
    route: Mutex<&'static str>,
    worst: Mutex<BTreeMap<String, Late>>,
}

/// The worst tick of one route.
#[derive(Debug, Clone, Copy, Default)]
struct Late {
    /// Wall-clock lateness of the tick.
    raw: Duration,
    /// Lateness less the time spent waiting for a CPU.
    blocked: Duration,
    /// Of that, the time on a CPU (the rest the thread slept).
    on_cpu: Duration,
    ticks: u64,
}

impl Watch {
    fn on(&self, route: &'static str) {
        *self.route.lock().unwrap() = route;
    }

    fn route(&self) -> &'static str {
        *self.route.lock().unwrap()
    }

    /// A tick `raw` late, of which `preempted` waiting for a CPU and
    /// `on_cpu` running; `began` is the route driven when the stall began.
    fn record(&self, began: &'static str, raw: Duration, preempted: Duration, on_cpu: Duration) {
        let now = self.route();
        // The driver moves on while the runtime is stuck, so a stall is the
        // route's in progress when it began (and names both if they differ).
        let route = if began == now { now.to_owned() } else { format!("{began} -> {now}") };
        let blocked = raw.saturating_sub(preempted);
        let mut worst = self.worst.lock().unwrap();
        let late = worst.entry(route).or_default();
        late.raw = late.raw.max(raw);
        if blocked > late.blocked {
            late.blocked = blocked;
            late.on_cpu = on_cpu.min(blocked);
        }
        late.ticks += 1;
    }
}

/// This thread's time on a CPU and time runnable but waiting for one.
fn schedstat() -> (Duration, Duration) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut fields = text.split_whitespace().map(|n| n.parse().unwrap_or(0));
    let on_cpu = fields.next().unwrap_or(0);
    let waiting = fields.next().unwrap_or(0);
    (Duration::from_nanos(on_cpu), Duration::from_nanos(waiting))
}

/// Tick every millisecond on the daemon's runtime, recording lateness.
async fn ticker(watch: Arc<Watch>) {
    let mut interval = tokio::time::interval(Duration::from_millis(1));
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (mut ran, mut waited) = schedstat();
    let mut began = watch.route();
    loop {
        let due = interval.tick().await;
        let raw = tokio::time::Instant::now().saturating_duration_since(due);
        let (now_ran, now_waited) = schedstat();
        watch.record(began, raw, now_waited - waited, now_ran - ran);
        (ran, waited) = (now_ran, now_waited);
        began = watch.route();
    }
}

#[test]
fn no_task_blocks_the_current_thread_runtime_longer_than_10ms() {
    if !stockade_testkit::can_make_boxes() {
        eprintln!("skipped: needs root and a writable cgroup tree");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let watch = Arc::new(Watch::default());
    runtime.block_on(async {
        let ticks = tokio::spawn(ticker(watch.clone()));
        // The host's own noise, for comparison: nothing runs but the ticker.
        watch.on("idle (baseline)");
        tokio::time::sleep(Duration::from_millis(500)).await;
        watch.on("daemon start");
        let d = TestDaemon::start("blocking", SPEC).await;
        let socket = d.socket();
        let driver_watch = watch.clone();
        // The traffic comes from another thread, so the daemon's thread does
        // nothing but serve it (and tick).
        let driver = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the driver's runtime");
            runtime.block_on(drive(Api::new(socket), &driver_watch));
        });
        while !driver.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let driven = driver.join();
        watch.on("daemon stop");
        let report = d.stop().await;
        watch.on("done");
        tokio::time::sleep(Duration::from_millis(5)).await;
        ticks.abort();
        if let Err(panic) = driven {
            std::panic::resume_unwind(panic);
        }
        report.expect("the daemon stops cleanly");
    });
    let worst = watch.worst.lock().unwrap().clone();
    eprintln!(
        "{:<52} {:>6} {:>10} {:>12} {:>10}",
        "route", "ticks", "max late", "max blocked", "(on cpu)"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (route, late) in &worst {
        eprintln!(
            "{route:<52} {:>6} {:>7.2} ms {:>9.2} ms {:>7.2} ms",
            late.ticks,
            ms(late.raw),
            ms(late.blocked),
            ms(late.on_cpu)
        );
    }
    let over: Vec<String> = worst
        .iter()
        .filter(|(_, late)| late.blocked > BUDGET)
        .map(|(route, late)| format!("{route}: blocked {:?}", late.blocked))
        .collect();
    assert!(
        over.is_empty(),
        "a task blocked the runtime longer than {BUDGET:?} while driving {over:?}"
    );
    let ticked: u64 = worst.values().map(|l| l.ticks).sum();
    assert!(ticked > 100, "the ticker barely ran ({ticked} ticks): the watchdog saw nothing");
}

/// Every route, several rounds, with jobs queued, running and finished.
async fn drive(api: Api, watch: &Watch) {
    for round in 0..3 {
        watch.on("POST /api/jobs");
        let quick = submit(&api, json!({"template": "quick"})).await;
        let broken = submit(&api, json!({"template": "broken"})).await;
        let slow = submit(&api, json!({"template": "slow"})).await;
        let keyed = json!({"template": "quick", "idempotency_key": format!("key-{round}")});
        submit(&api, keyed.clone()).await;
        let replay = api.post("/api/jobs", &keyed).await;
        assert_eq!(replay.status, 200, "a keyed retry is answered: {}", replay.json);
        watch.on("POST /api/jobs (batch of 200)");
        let batch: Vec<Value> = (0..200).map(|_| json!({"template": "quick"})).collect();
        let many = api.post("/api/jobs", &Value::from(batch)).await;
        assert_eq!(many.status, 201, "{}", many.json);

        watch.on("GET /api/jobs/{id} (until ended)");
        for id in [quick, broken] {
            wait_until("the job to end", Duration::from_secs(30), || async {
                let view = api.get(&format!("/api/jobs/{id}")).await;
                matches!(view.json["state"].as_str(), Some("succeeded" | "failed")).then_some(())
            })
            .await;
        }
        watch.on("GET /api/jobs");
        for query in ["", "?limit=10", "?state=succeeded,failed&limit=500", "?template=slow"] {
            let page = api.get(&format!("/api/jobs{query}")).await;
            assert_eq!(page.status, 200, "{query}: {}", page.json);
        }
        watch.on("GET /api/jobs/{id}");
        let view = api.get(&format!("/api/jobs/{broken}")).await;
        assert_eq!(view.json["state"], "failed", "{}", view.json);
        let run = view.json["runs"][0]["id"].as_u64().expect("the failed job's run");

        watch.on("GET /api/jobs/{id}/logs");
        let logs = api.get(&format!("/api/jobs/{quick}/logs")).await;
        assert!(String::from_utf8_lossy(&logs.body).contains("line two"), "{:?}", logs.body);
        watch.on("GET /api/jobs/{id}/logs?follow=true");
        let followed = api.get(&format!("/api/jobs/{quick}/logs?follow=true")).await;
        assert_eq!(followed.status, 200);

        watch.on("GET /api/postmortems?job=");
        let found = wait_until("the post-mortem", Duration::from_secs(30), || async {
            let pm = api.get(&format!("/api/postmortems?job={broken}")).await;
            (pm.status == 200).then_some(pm)
        })
        .await;
        assert!(found.json.is_object(), "{}", found.json);
        watch.on("GET /api/postmortems/{run}");
        let by_run = api.get(&format!("/api/postmortems/{run}")).await;
        assert_eq!(by_run.status, 200, "{}", by_run.json);
        watch.on("GET /api/postmortems?unit=");
        api.get("/api/postmortems?unit=web").await;

        watch.on("DELETE /api/jobs/{id}");
        wait_until("the slow job to run", Duration::from_secs(30), || async {
            let view = api.get(&format!("/api/jobs/{slow}")).await;
            (view.json["state"] == "running").then_some(())
        })
        .await;
        let cancelled = api.delete(&format!("/api/jobs/{slow}")).await;
        assert!(matches!(cancelled.status.as_u16(), 200 | 202), "{}", cancelled.json);
        watch.on("GET /api/jobs/{id}/logs?follow=true (running)");
        let follow = api.get(&format!("/api/jobs/{slow}/logs?follow=true")).await;
        assert_eq!(follow.status, 200);

        watch.on("GET /api/services");
        let services = api.get("/api/services").await;
        assert_eq!(services.status, 200, "{}", services.json);
        watch.on("POST /api/services/web/restart");
        let restarted = api.post("/api/services/web/restart", &json!({})).await;
        assert!(restarted.status.is_success(), "{}", restarted.json);
        watch.on("GET /api/services/web/logs");
        api.get("/api/services/web/logs").await;

        watch.on("GET /api/events (replay and live)");
        events(&api).await;

        watch.on("GET /metrics");
        let metrics = api.get("/metrics").await;
        assert_eq!(metrics.status, 200);
        watch.on("GET /api/status");
        assert_eq!(api.get("/api/status").await.status, 200);
        watch.on("GET /api/queue/status");
        assert_eq!(api.get("/api/queue/status").await.status, 200);
        watch.on("GET /health/*");
        api.get("/health/live").await;
        api.get("/health/ready").await;
        watch.on("GET /api/openapi.json");
        assert_eq!(api.get("/api/openapi.json").await.status, 200);

        watch.on("GET /api/jobs (batch draining)");
        wait_until("the batch to drain", Duration::from_secs(60), || async {
            let page = api.get("/api/jobs?state=queued,running&limit=1").await;
            (page.json["total"] == 0).then_some(())
        })
        .await;
    }
}

async fn submit(api: &Api, body: Value) -> u64 {
    let reply = api.post("/api/jobs", &body).await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    reply.json["id"].as_u64().expect("an id")
}

/// Replay the whole stream from the start, then read live events for a moment.
async fn events(api: &Api) {
    use http_body_util::BodyExt;
    let response = api.open(hyper::Method::GET, "/api/events?since=0", None, &[]).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let started = Instant::now();
    let mut bytes = 0;
    while started.elapsed() < Duration::from_millis(300) {
        match tokio::time::timeout(Duration::from_millis(100), body.frame()).await {
            Ok(Some(Ok(frame))) => bytes += frame.data_ref().map_or(0, |d| d.len()),
            Ok(_) => break,
            Err(_) => {}
        }
    }
    assert!(bytes > 0, "the event stream replayed nothing");
}
