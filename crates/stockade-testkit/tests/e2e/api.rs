//! Issue 4 end to end: the API's shapes and its answers to bad input, jobs
//! through real boxes, and the event stream.

use crate::need_boxes;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use stockade_testkit::{TestDaemon, wait_until};

const JOBS: &str = r#"
[pool.small]
max_concurrency = 1
max_queued = 2

[job.echo]
command = ["sh", "-c", "echo hello $0"]
pool = "small"

[job.sleeper]
command = ["sleep", "300"]
pool = "small"

[job.hog]
command = ["python3", "-c", "b = bytearray(512 * 1024 * 1024)"]
limits = { memory = "64MiB", pids = 16 }
"#;

async fn job_state(d: &TestDaemon, id: u64, want: &str) -> serde_json::Value {
    wait_until(&format!("job {id} {want}"), Duration::from_secs(20), || async {
        let job = d.api.get(&format!("/api/jobs/{id}")).await.json;
        (job["state"] == want).then_some(job)
    })
    .await
}

#[tokio::test]
async fn jobs_keep_the_field_reports_shapes_and_errors_are_typed() {
    need_boxes!();
    let d = TestDaemon::start("api", JOBS).await;
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the socket is private");

    let live = d.api.get("/health/live").await;
    assert_eq!((live.status.as_u16(), live.json.clone()), (200, json!({"status": "ok"})));
    let ready = d.api.get("/health/ready").await;
    assert_eq!(ready.status, 200);

    // The field report's shapes.
    let sleeper = d.api.post("/api/jobs", &json!({"template": "sleeper"})).await;
    assert_eq!(sleeper.status, 201, "{:?}", sleeper.json);
    assert_eq!(sleeper.json["status"], "queued");
    for key in ["position", "running", "maxConcurrency"] {
        assert!(sleeper.json["queue"].get(key).is_some(), "queue.{key} missing: {}", sleeper.json);
    }
    let sleeper_id = sleeper.json["id"].as_u64().unwrap();
    job_state(&d, sleeper_id, "running").await;
    let running = wait_until("usage of the running job", Duration::from_secs(10), || async {
        let job = d.api.get(&format!("/api/jobs/{sleeper_id}")).await.json;
        // The init (pid 1 of the box) and the sleeper: a walled box counts its init.
        (job["usage"]["pids_current"].as_u64() == Some(2)).then_some(job)
    })
    .await;
    assert!(running["usage"]["memory_current"].as_u64().is_some(), "{running}");
    assert_eq!(running["limits"]["memory"], 2u64 << 30, "the built-in default");
    let queued = d.api.post("/api/jobs", &json!({"template": "echo", "args": ["world"]})).await;
    let echo_id = queued.json["id"].as_u64().unwrap();
    assert_eq!(queued.json["queue"], json!({"position": 0, "running": 1, "maxConcurrency": 1}));
    let status = d.api.get("/api/queue/status").await.json;
    for key in ["running", "queued", "maxConcurrency", "utilizationPercent"] {
        assert!(status.get(key).is_some(), "{key} missing: {status}");
    }
    let small =
        status["pools"].as_array().unwrap().iter().find(|p| p["name"] == "small").unwrap().clone();
    assert_eq!((small["running"].as_u64(), small["queued"].as_u64()), (Some(1), Some(1)));
    assert_eq!(small["blocking_reason"], "pool full: 1/1 running", "pools are snake_case");
    let waiting = d.api.get(&format!("/api/jobs/{echo_id}")).await.json;
    assert_eq!(waiting["waiting"], "pool full: 1/1 running");

    // A full queue: 429 with a Retry-After and a hint.
    d.api.post("/api/jobs", &json!({"template": "echo"})).await;
    let full = d.api.post("/api/jobs", &json!({"template": "echo"})).await;
    assert_eq!(full.status, 429, "{:?}", full.json);
    assert_eq!(full.json["code"], "queue_full");
    assert!(full.headers.contains_key("retry-after"));
    assert!(full.json["hint"].as_str().unwrap().contains("max_queued"));

    // Bad input: each a typed error, and the daemon keeps serving.
    let garbage = d
        .api
        .call(
            Method::POST,
            "/api/jobs",
            Some(b"{not json".to_vec()),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!((garbage.status.as_u16(), garbage.json["code"].as_str()), (400, Some("bad_json")));
    let wrong = d.api.post("/api/jobs", &json!({"template": 42})).await;
    assert_eq!((wrong.status.as_u16(), wrong.json["code"].as_str()), (422, Some("bad_request")));
    let unknown = d.api.post("/api/jobs", &json!({"template": "nope"})).await;
    assert_eq!(
        (unknown.status.as_u16(), unknown.json["code"].as_str()),
        (404, Some("unknown_template"))
    );
    assert_eq!(unknown.json["hint"], "known job templates: echo, hog, sleeper");
    let big = vec![b' '; 10 * 1024 * 1024];
    let huge = d
        .api
        .call(Method::POST, "/api/jobs", Some(big), &[("content-type", "application/json")])
        .await;
    assert_eq!((huge.status.as_u16(), huge.json["code"].as_str()), (413, Some("body_too_large")));
    let missing = d.api.get("/api/jobs/999999").await;
    assert_eq!(
        (missing.status.as_u16(), missing.json["code"].as_str()),
        (404, Some("unknown_job"))
    );
    let nowhere = d.api.get("/api/nothing").await;
    assert_eq!(nowhere.json["code"], "not_found");
    for reply in [&garbage, &wrong, &unknown, &huge, &missing, &nowhere] {
        for key in ["code", "message", "hint"] {
            assert!(reply.json[key].is_string(), "{key} missing in {}", reply.json);
        }
    }

    // Cancel the running job: its box is emptied, the queued echo then runs.
    let cancelled = d.api.delete(&format!("/api/jobs/{sleeper_id}")).await;
    // A running job is still stopping: 202, with its Location to wait on.
    assert_eq!(cancelled.status, 202, "{:?}", cancelled.json);
    assert_eq!(cancelled.headers["location"], format!("/api/jobs/{sleeper_id}").as_str());
    let done = job_state(&d, sleeper_id, "cancelled").await;
    assert_eq!(done["cause"]["kind"], "stopped");
    let runs = done["runs"].as_array().expect("the job's runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0]["attempt"].as_u64(), runs[0]["cause"]["kind"].as_str()),
        (Some(1), Some("stopped"))
    );
    assert!(runs[0]["pid"].as_u64().is_some() && runs[0]["ended_at"].as_u64().is_some());
    job_state(&d, echo_id, "succeeded").await;
    let again = d.api.delete(&format!("/api/jobs/{sleeper_id}")).await;
    assert_eq!(
        (again.status.as_u16(), again.json["code"].as_str()),
        (409, Some("already_finished"))
    );
    let logs = d.api.get(&format!("/api/jobs/{echo_id}/logs")).await;
    assert_eq!(logs.status, 200, "{:?}", logs.json);
    let lines = logs.json["lines"].as_array().expect("log records");
    let texts: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["stream"].as_str().unwrap_or("?"), l["text"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(texts, [("stdout", "hello world")], "{:?}", logs.json);
    assert!(lines[0]["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{:?}", logs.json);
    d.stop().await.unwrap();
}

#[tokio::test]
async fn an_oom_killed_job_gets_a_postmortem_that_says_what_happened() {
    need_boxes!();
    let d = TestDaemon::start("oomjob", JOBS).await;
    let id =
        d.api.post("/api/jobs", &json!({"template": "hog"})).await.json["id"].as_u64().unwrap();
    let job = job_state(&d, id, "failed").await;
    assert_eq!(job["cause"]["kind"], "oom_killed", "{job}");
    assert_eq!(job["reason"], "oom_killed; not retried for `oom_killed`");
    let pm = d.api.get(&format!("/api/postmortems?job={id}")).await.json;
    assert_eq!(pm["evidence"]["oom_kills"], 1);
    assert_eq!(pm["evidence"]["memory_limit"], 64 * 1024 * 1024);
    let summary = pm["summary"].as_str().unwrap();
    assert!(summary.starts_with("killed by the OOM killer inside its box"), "{summary}");
    assert!(summary.contains("raise `memory`"), "{summary}");
    d.stop().await.unwrap();
}

#[tokio::test]
async fn events_stream_as_sse_and_resume_from_last_event_id() {
    need_boxes!();
    let d = TestDaemon::start("events", JOBS).await;
    let id = d.api.post("/api/jobs", &json!({"template": "echo", "args": ["x"]})).await.json["id"]
        .as_u64()
        .unwrap();
    job_state(&d, id, "succeeded").await;
    // Replay everything from the start, then resume after the third event.
    let mut all = Vec::new();
    let response = d.api.open(Method::GET, "/api/events?since=0", None, &[]).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut text = String::new();
    while !text.contains("\"state\":\"succeeded\"") {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    drop(body); // a client that disconnects mid-stream
    for block in text.split("\n\n").filter(|b| b.contains("data:")) {
        let id: u64 =
            block.lines().find_map(|l| l.strip_prefix("id:")).unwrap().trim().parse().unwrap();
        all.push(id);
    }
    assert!(all.len() >= 4, "{text}");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "sequence numbers increase: {all:?}");
    let resumed = d
        .api
        .open(Method::GET, "/api/events", None, &[("last-event-id", &all[2].to_string())])
        .await;
    let mut body = resumed.into_body();
    let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let first = String::from_utf8_lossy(frame.data_ref().unwrap()).to_string();
    assert!(
        first.contains(&format!("id: {}", all[3])) || first.contains(&format!("id:{}", all[3])),
        "{first}"
    );
    // The daemon is unaffected by the dropped client.
    assert_eq!(d.api.get("/health/live").await.status, 200);
    d.stop().await.unwrap();
}

#[tokio::test]
async fn a_second_daemon_on_the_same_state_directory_refuses_to_start() {
    need_boxes!();
    let first = TestDaemon::start("lock", JOBS).await;
    let spec = stockade_spec::Spec::from_file(&first.spec_path()).unwrap();
    let err =
        stockade_daemon::run(stockade_daemon::Config::new(spec), async {}, None).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains(&format!("stockade is already running (pid {})", std::process::id())),
        "{message}"
    );
    assert_eq!(first.api.get("/health/live").await.status, 200, "the first keeps serving");
    first.stop().await.unwrap();
}
