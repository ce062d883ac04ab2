//! The API as a contract (issue 12): pages, strict queries, JSON errors for
//! every refusal, ids past i64, NUL at the door, 201 + Location, cancel's
//! 200/202, Idempotency-Key across a restart, SSE `retry:` and a resume past
//! the newest event, metrics negotiation, and the served OpenAPI document.

use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{Value, json};
use std::time::Duration;
use stockade_testkit::{TestDaemon, wait_until};

const SPEC: &str = r#"
[job.quick]
command = ["true"]
isolation = "none"

[job.slow]
command = ["sleep", "30"]
isolation = "none"
"#;

fn assert_error(reply: &stockade_testkit::Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.json["code"], code, "{}", reply.json);
    assert!(reply.json["message"].is_string() && reply.json["hint"].is_string(), "{}", reply.json);
}

#[tokio::test]
async fn lists_page_with_a_cursor_and_a_total() {
    let d = TestDaemon::start("contract-pages", SPEC).await;
    let batch: Vec<Value> = (0..25).map(|_| json!({"template": "quick"})).collect();
    let submitted = d.api.post("/api/jobs", &Value::from(batch)).await;
    assert_eq!(submitted.status, 201, "{:?}", submitted.json);
    assert!(submitted.headers.get("location").is_none(), "a batch has no one Location");

    let mut seen = Vec::new();
    let mut path = "/api/jobs?template=quick&limit=10".to_owned();
    loop {
        let page = d.api.get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.json);
        assert_eq!(page.json["total"], 25);
        seen.extend(page.json["items"].as_array().unwrap().iter().map(|j| j["id"].as_u64()));
        match page.json["next"].as_str() {
            Some(next) => path = format!("/api/jobs?template=quick&limit=10&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25, "every job once: {seen:?}");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "newest first, no repeats");

    let services = d.api.get("/api/services?limit=5").await;
    assert_eq!(services.json["total"], 0);
    assert_eq!(services.json["next"], Value::Null);
    d.stop().await.unwrap();
}

#[tokio::test]
async fn every_refusal_is_a_json_error_naming_what_is_valid() {
    let d = TestDaemon::start("contract-errors", SPEC).await;
    let unknown = d.api.get("/api/jobs?status=failed").await;
    assert_error(&unknown, 400, "bad_query");
    assert!(unknown.json["message"].as_str().unwrap().contains("`state`"), "{}", unknown.json);
    assert_error(&d.api.get("/api/jobs?state=exploded").await, 400, "bad_query");
    assert_error(&d.api.get("/api/jobs?limit=0").await, 400, "bad_query");
    assert_error(&d.api.get("/api/jobs?cursor=abc").await, 400, "bad_cursor");
    assert_error(&d.api.get("/api/events?type=nope").await, 400, "bad_query");
    assert_error(&d.api.get("/api/nowhere").await, 404, "not_found");
    let put = d.api.call(Method::PUT, "/api/jobs", None, &[]).await;
    assert_error(&put, 405, "method_not_allowed");
    assert_error(&d.api.get("/api/jobs/9223372036854775808").await, 404, "unknown_job");
    assert_error(&d.api.get("/api/jobs/99999999999999999999").await, 404, "unknown_job");
    assert_error(&d.api.delete("/api/jobs/18446744073709551615").await, 404, "unknown_job");
    assert_error(&d.api.get("/api/jobs/12/logs?x=1").await, 400, "bad_query");
    assert_error(&d.api.get("/api/postmortems/9223372036854775808").await, 404, "unknown_run");

    let nul = d.api.post("/api/jobs", &json!({"template": "quick", "args": ["a\u{0}b"]})).await;
    assert_error(&nul, 422, "bad_request");
    let key = d.api.post("/api/jobs", &json!({"template": "quick", "env": {"A=B": "x"}})).await;
    assert_error(&key, 422, "bad_request");
    let all = d.api.get("/api/jobs").await;
    assert_eq!(all.json["total"], 0, "nothing refused was queued");
    d.stop().await.unwrap();
}

#[tokio::test]
async fn a_submit_is_201_with_location_and_cancel_answers_the_final_state_or_202() {
    let d = TestDaemon::start("contract-cancel", SPEC).await;
    let slow = d.api.post("/api/jobs", &json!({"template": "slow"})).await;
    assert_eq!(slow.status, 201);
    let id = slow.json["id"].as_u64().unwrap();
    assert_eq!(slow.headers["location"], format!("/api/jobs/{id}").as_str());
    assert!(slow.json["queue"]["maxConcurrency"].is_u64(), "the kept camelCase shape");
    wait_until("slow running", Duration::from_secs(20), || async {
        (d.api.get(&format!("/api/jobs/{id}")).await.json["state"] == "running").then_some(())
    })
    .await;
    let cancel = d.api.delete(&format!("/api/jobs/{id}")).await;
    if cancel.status == 202 {
        assert_eq!(cancel.headers["location"], format!("/api/jobs/{id}").as_str());
        let link = cancel.headers["link"].to_str().unwrap();
        assert!(link.contains(&format!("/api/events?job={id}&type=job_state")), "{link}");
        wait_until("slow cancelled", Duration::from_secs(20), || async {
            (d.api.get(&format!("/api/jobs/{id}")).await.json["state"] == "cancelled").then_some(())
        })
        .await;
    } else {
        assert_eq!(cancel.status, 200, "{:?}", cancel.json);
        assert_eq!(cancel.json["state"], "cancelled");
    }
    assert_error(&d.api.delete(&format!("/api/jobs/{id}")).await, 409, "already_finished");
    let queue = d.api.get("/api/queue/status").await.json;
    assert!(queue["maxConcurrency"].is_u64() && queue["utilizationPercent"].is_u64(), "{queue}");
    assert!(queue["pools"][0]["max_concurrency"].is_u64(), "pools are snake_case: {queue}");
    d.stop().await.unwrap();
}

#[tokio::test]
async fn an_idempotency_key_answers_the_first_job_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let d = TestDaemon::start_in("contract-idem", SPEC, dir).await;
    let body = json!({"template": "quick"}).to_string().into_bytes();
    let headers = [("content-type", "application/json"), ("idempotency-key", "task-42")];
    let first = d.api.call(Method::POST, "/api/jobs", Some(body.clone()), &headers).await;
    assert_eq!(first.status, 201, "{:?}", first.json);
    let again = d.api.call(Method::POST, "/api/jobs", Some(body.clone()), &headers).await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["id"], first.json["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let (stopped, dir) = d.stop_keep().await;
    stopped.unwrap();
    assert_eq!(dir.path(), path);

    let d = TestDaemon::start_in("contract-idem", SPEC, dir).await;
    let after = d.api.call(Method::POST, "/api/jobs", Some(body), &headers).await;
    assert_eq!(after.json["id"], first.json["id"], "the key is stored with the job");
    let batch = json!([
        {"template": "quick", "idempotency_key": "task-42"},
        {"template": "quick", "idempotency_key": "task-43"},
    ]);
    let mixed = d.api.post("/api/jobs", &batch).await;
    assert_eq!(mixed.status, 201, "{:?}", mixed.json);
    assert_eq!(mixed.json[0]["id"], first.json["id"]);
    assert_ne!(mixed.json[1]["id"], first.json["id"]);
    assert_eq!(d.api.get("/api/jobs").await.json["total"], 2, "two jobs, not four");
    d.stop().await.unwrap();
}

#[tokio::test]
async fn events_carry_retry_and_a_resume_past_the_newest_is_refused() {
    let d = TestDaemon::start("contract-sse", SPEC).await;
    d.api.post("/api/jobs", &json!({"template": "quick"})).await;
    let past = d.api.get("/api/events?since=999999").await;
    assert_error(&past, 400, "resume_past_end");
    let response = d.api.open(Method::GET, "/api/events?since=0", None, &[]).await;
    let mut body = response.into_body();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an event within 10 s")
            .expect("a frame")
            .expect("no error");
        if let Some(data) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(data));
        }
    }
    assert!(text.contains("retry: 1000") || text.contains("retry:1000"), "{text}");
    d.stop().await.unwrap();
}

#[tokio::test]
async fn the_openapi_document_is_served_and_metrics_negotiate_their_format() {
    let d = TestDaemon::start("contract-doc", SPEC).await;
    let doc = d.api.get("/api/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json["openapi"], "3.1.0");
    assert!(doc.json["paths"]["/api/jobs"]["post"].is_object());
    let open = d
        .api
        .call(Method::GET, "/metrics", None, &[("accept", "application/openmetrics-text")])
        .await;
    assert!(open.headers["content-type"].to_str().unwrap().starts_with("application/openmetrics"));
    assert!(String::from_utf8_lossy(&open.body).ends_with("# EOF\n"));
    let plain = d.api.get("/metrics").await;
    assert!(
        plain.headers["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4")
    );
    d.stop().await.unwrap();
}
