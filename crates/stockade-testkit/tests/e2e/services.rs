//! Issue 3 end to end: a crash loop ending in gave_up, a liveness-triggered
//! restart, a shutdown within the grace period — with real processes.

use crate::need_boxes;
use serde_json::Value;
use std::time::{Duration, Instant};
use stockade_testkit::{TestDaemon, wait_until};

async fn replica(d: &TestDaemon, service: &str) -> Option<Value> {
    let reply = d.api.get("/api/services").await;
    reply.json["items"].as_array()?.iter().find(|r| r["service"] == service).cloned()
}

#[tokio::test]
async fn a_crash_loop_ends_in_gave_up_with_a_postmortem_and_restart_clears_it() {
    need_boxes!();
    let d = TestDaemon::start(
        "crashloop",
        r#"
[service.crashy]
command = ["sh", "-c", "echo about to fail; echo boom >&2; exit 7"]
restart = "always"
backoff = { initial = "50ms", max = "200ms", jitter = 0.0 }
start_limit = { burst = 3, interval = "60s" }
"#,
    )
    .await;
    let gave_up = wait_until("gave_up", Duration::from_secs(20), || async {
        replica(&d, "crashy").await.filter(|r| r["state"] == "gave_up")
    })
    .await;
    assert_eq!(gave_up["restarts"], 2);
    assert_eq!(gave_up["last_cause"], serde_json::json!({"kind": "exited", "code": 7}));
    assert!(gave_up["reason"].as_str().unwrap().contains("`stockade restart` clears it"));
    let pm = d.api.get("/api/postmortems?unit=crashy").await;
    assert_eq!(pm.status, 200, "{:?}", pm.json);
    assert_eq!(pm.json["cause"]["kind"], "exited");
    // Only this run's lines (the service's log holds its earlier runs too).
    // The box's init tags each line with its stream (no daemon in the data
    // path), so the two tails are apart again.
    assert_eq!(pm.json["logs"]["stdout"], serde_json::json!(["about to fail"]));
    assert_eq!(pm.json["logs"]["stderr"], serde_json::json!(["boom"]));
    assert!(pm.json["host"]["pid_max"].as_u64().is_some(), "host snapshot taken at death");
    assert!(pm.json["started_at"].as_u64() < pm.json["ended_at"].as_u64(), "{}", pm.json);
    let restarted = d.api.post("/api/services/crashy/restart", &serde_json::json!({})).await;
    assert_eq!(restarted.status, 200);
    wait_until("restarted after gave_up", Duration::from_secs(10), || async {
        replica(&d, "crashy").await.filter(|r| r["state"] != "gave_up" || r["restarts"] == 0)
    })
    .await;
    d.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_liveness_probe_restarts_the_service_through_its_policy() {
    need_boxes!();
    let d = TestDaemon::start(
        "liveness",
        r#"
[service.hung]
command = ["sleep", "300"]
restart = "on-failure"
backoff = { initial = "50ms", jitter = 0.0 }
liveness = { exec = ["sh", "-c", "exit 1"], period = "100ms", failure_threshold = 2 }
stop = { signal = "SIGTERM", grace = "2s" }
"#,
    )
    .await;
    let first = wait_until("first run", Duration::from_secs(10), || async {
        replica(&d, "hung").await.and_then(|r| r["pid"].as_u64())
    })
    .await;
    let second = wait_until("a restart", Duration::from_secs(20), || async {
        replica(&d, "hung").await.and_then(|r| r["pid"].as_u64()).filter(|p| *p != first)
    })
    .await;
    assert_ne!(first, second);
    assert!(!std::path::Path::new(&format!("/proc/{first}")).exists(), "the old run is gone");
    let pm = d.api.get("/api/postmortems?unit=hung").await;
    assert_eq!(pm.json["cause"]["kind"], "liveness_failed", "{:?}", pm.json);
    let failures = pm.json["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["probe"] == "liveness" && p["ok"] == false)
        .count();
    assert!(failures >= 2, "probe history kept: {:?}", pm.json["probes"]);
    d.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_everything_within_the_grace_and_leaves_no_process_or_box() {
    need_boxes!();
    let d = TestDaemon::start(
        "shutdown",
        r#"
[service.db]
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]

[service.app]
command = ["sh", "-c", "sleep 300 & sleep 300 & wait"]
replicas = 2
depends_on = { db = "started" }
stop = { signal = "SIGTERM", grace = "5s" }
"#,
    )
    .await;
    let pids: Vec<u64> = wait_until("all running", Duration::from_secs(10), || async {
        let all = d.api.get("/api/services").await.json["items"].clone();
        let pids: Vec<u64> = all.as_array()?.iter().filter_map(|r| r["pid"].as_u64()).collect();
        (pids.len() == 3).then_some(pids)
    })
    .await;
    let pids_dir = d.parent_dir("pids");
    assert!(pids_dir.exists());
    let started = Instant::now();
    let report = d.stop().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "within the grace: {:?}",
        started.elapsed()
    );
    assert_eq!((report.clean, report.killed), (3, 0));
    for pid in pids {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "pid {pid} survived");
    }
    assert!(!pids_dir.exists(), "the cgroup parent was removed");
}
