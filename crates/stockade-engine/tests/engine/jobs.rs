use crate::helpers::*;
use std::time::Duration;
use stockade_engine::{EngineError, StopReason};
use stockade_proto::{ExitCause, JobRequest, JobState};

fn request(template: &str, priority: Option<i32>) -> JobRequest {
    JobRequest { template: template.into(), priority, ..JobRequest::default() }
}

async fn job_state(
    h: &Harness,
    id: stockade_proto::JobId,
    state: JobState,
) -> stockade_store::JobRecord {
    let store = h.store.clone();
    wait_for(&format!("job {id} {state}"), Duration::from_secs(120), || {
        let record = store.job(id).ok().flatten();
        async move { record.filter(|r| r.state == state) }
    })
    .await
}

const POOL: &str = r#"
[pool.p]
max_concurrency = 2
max_queued = 3

[job.t]
command = ["agent"]
pool = "p"
"#;

#[tokio::test(start_paused = true)]
async fn the_pool_limit_holds_and_priority_beats_fifo() {
    let h = start(POOL);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(h.handle.submit(request("t", None)).await.unwrap().id);
    }
    let urgent = h.handle.submit(request("t", Some(5))).await.unwrap();
    assert_eq!(urgent.status, JobState::Queued);
    assert_eq!(urgent.queue.running, 2);
    assert_eq!(urgent.queue.max_concurrency, 2);
    assert_eq!(urgent.queue.position, 0, "priority 5 goes to the head of the queue");
    let started = launches(&h, 2).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(h.launcher.launches().len(), 2, "max_concurrency = 2");
    let third = h.handle.job(ids[2]).await.unwrap();
    assert_eq!(third.position, Some(1));
    assert_eq!(third.waiting.as_deref(), Some("1 job(s) ahead of it; pool full: 2/2 running"));
    let queue = h.handle.queue().await.unwrap();
    let p = queue.iter().find(|p| p.name == "p").unwrap();
    assert_eq!((p.running, p.queued, p.max_concurrency, p.utilization_percent), (2, 2, 2, 100));

    h.launcher.exit(started[0].run, ExitCause::Exited { code: 0 });
    let all = launches(&h, 3).await;
    assert_eq!(
        all[2].env.iter().find(|(k, _)| k == "STOCKADE_JOB_ID").unwrap().1,
        urgent.id.to_string()
    );
    let done = job_state(&h, ids[0], JobState::Succeeded).await;
    assert_eq!(done.attempt, 1);
    let stats = h.handle.stats().await.unwrap();
    let count =
        |pool: &str, decision: &str| stats.admissions.get(&(pool.into(), decision.into())).copied();
    assert_eq!(count("p", "admitted"), Some(3));
    // Two episodes of holding (full; a slot freed and was taken; full again),
    // each counted once however often admission was checked in between.
    assert_eq!(count("p", "pool_full"), Some(2));
    assert_eq!(stats.exits.get(&("t".into(), "job".into(), "exited".into())), Some(&1));
    assert_eq!(stats.queue_wait["p"].count, 3);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_is_a_typed_rejection_with_a_retry_hint() {
    let h = start(POOL);
    for _ in 0..5 {
        h.handle.submit(request("t", None)).await.unwrap();
    }
    launches(&h, 2).await;
    let err = h.handle.submit(request("t", None)).await.unwrap_err();
    assert!(matches!(err, EngineError::QueueFull { max_queued: 3, .. }), "{err:?}");
    assert_eq!(err.code(), "queue_full");
    assert!(err.hint().contains("retry in about"), "{}", err.hint());
    let err = h.handle.submit(request("nope", None)).await.unwrap_err();
    assert_eq!(err.to_string(), "no job template named `nope`");
    assert_eq!(err.hint(), "known job templates: t");
}

#[tokio::test(start_paused = true)]
async fn exits_are_retried_with_backoff_but_an_oom_kill_is_not() {
    let h = start(
        r#"
[job.t]
command = ["agent"]
retries = { max = 3, backoff = "2s", on = ["exited", "lost"] }
"#,
    );
    let id = h.handle.submit(request("t", None)).await.unwrap().id;
    let first = launches(&h, 1).await;
    // The engine sees the exit no earlier than now, so the retry is due no
    // earlier than now + 2 s of (virtual) time.
    let exited_at = tokio::time::Instant::now();
    h.launcher.exit(first[0].run, ExitCause::Exited { code: 1 });
    let queued = job_state(&h, id, JobState::Queued).await;
    assert!(queued.reason.unwrap().starts_with("attempt 1/4 ended: exited 1; retrying in 2s"));
    let second = launches(&h, 2).await;
    assert!(exited_at.elapsed() >= Duration::from_secs(2), "{:?}", exited_at.elapsed());
    assert_eq!(second[1].env.iter().find(|(k, _)| k == "STOCKADE_ATTEMPT").unwrap().1, "2");
    h.launcher.exit(second[1].run, ExitCause::OomKilled);
    let failed = job_state(&h, id, JobState::Failed).await;
    assert_eq!(failed.attempt, 2);
    assert_eq!(failed.cause, Some(ExitCause::OomKilled));
    assert_eq!(failed.reason.as_deref(), Some("oom_killed; not retried for `oom_killed`"));
    assert!(h.store.postmortem(second[1].run).unwrap().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_run_past_its_timeout_is_stopped_and_the_job_fails() {
    let h = start(
        r#"
[job.slow]
command = ["agent"]
timeout = "30s"
"#,
    );
    let id = h.handle.submit(request("slow", None)).await.unwrap().id;
    let started = launches(&h, 1).await;
    let t0 = tokio::time::Instant::now();
    let launcher = h.launcher.clone();
    let stop = wait_for("timeout stop", Duration::from_secs(60), || {
        let stops = launcher.stops();
        async move { stops.first().copied() }
    })
    .await;
    assert!(t0.elapsed() >= Duration::from_secs(29));
    assert_eq!(stop.0, started[0].run);
    assert_eq!(stop.1.reason, StopReason::Timeout);
    let failed = job_state(&h, id, JobState::Failed).await;
    assert_eq!(failed.cause, Some(ExitCause::TimedOut));
}

#[tokio::test(start_paused = true)]
async fn cancel_works_on_queued_and_running_jobs() {
    let h = start(
        r#"
[pool.one]
max_concurrency = 1

[job.t]
command = ["agent"]
pool = "one"
"#,
    );
    let running = h.handle.submit(request("t", None)).await.unwrap().id;
    let queued = h.handle.submit(request("t", None)).await.unwrap().id;
    launches(&h, 1).await;
    let view = h.handle.cancel(queued).await.unwrap();
    assert_eq!(view.state, JobState::Cancelled);
    job_state(&h, queued, JobState::Cancelled).await;
    h.handle.cancel(running).await.unwrap();
    let done = job_state(&h, running, JobState::Cancelled).await;
    assert_eq!(done.cause, Some(ExitCause::Stopped));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.launcher.launches().len(), 1, "the cancelled queued job never ran");
}

#[tokio::test(start_paused = true)]
async fn a_job_not_started_within_queue_timeout_expires() {
    let h = start(
        r#"
[pool.one]
max_concurrency = 1
queue_timeout = "10s"

[job.t]
command = ["agent"]
pool = "one"
"#,
    );
    h.handle.submit(request("t", None)).await.unwrap();
    let late = h.handle.submit(request("t", None)).await.unwrap().id;
    let expired = job_state(&h, late, JobState::Expired).await;
    assert_eq!(expired.reason.as_deref(), Some("not started within queue_timeout (10s)"));
    assert_eq!(h.launcher.launches().len(), 1);
}
