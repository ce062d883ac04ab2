//! Recovery decisions after the engine dies (its task aborted, the store file
//! kept), on the fake launcher: which boxes survived is the test's say
//! (`RecordingLauncher::survivor`). A surviving job or replica is adopted and
//! never launched again; one that ended during the outage is recorded with
//! its status; a vanished one ends `interrupted`, with a post-mortem, and a
//! job then runs again at the *same* attempt (or fails, per `on_interrupt`).

use crate::helpers::*;
use std::time::Duration;
use stockade_engine::RecordingLauncher;
use stockade_proto::{ExitCause, JobId, JobRequest, JobState};
use stockade_store::{JobRecord, Store, StoreOptions};

fn request(template: &str) -> JobRequest {
    JobRequest { template: template.to_string(), ..JobRequest::default() }
}

async fn job_state(h: &Harness, id: JobId, state: JobState) -> JobRecord {
    let store = h.store.clone();
    wait_for(&format!("job {id} {state}"), Duration::from_secs(60), || {
        let record = store.job(id).ok().flatten();
        async move { record.filter(|r| r.state == state) }
    })
    .await
}

/// Run `spec` until job `id` runs, kill the engine, and start a new one over
/// the same store with `launcher`. Returns the new harness and the first run.
async fn crash_with_a_running_job(
    spec: &str,
    survivor: impl FnOnce(&RecordingLauncher, &str),
) -> (Harness, JobId, stockade_engine::LaunchRequest) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.db"), StoreOptions::default()).unwrap();
    let h = start_with(spec, dir, store, RecordingLauncher::new());
    let id = h.handle.submit(request("t")).await.unwrap().id;
    let first = launches(&h, 1).await.remove(0);
    job_state(&h, id, JobState::Running).await;
    // Let the pid reach the store.
    let store = h.store.clone();
    let run = first.run;
    wait_for("the run's pid", Duration::from_secs(10), || {
        let pid = store.run(run).ok().flatten().and_then(|r| r.pid);
        async move { pid }
    })
    .await;
    h.task.abort();
    let _ = h.task.await;
    let fresh = RecordingLauncher::new();
    survivor(&fresh, &first.box_name);
    let h2 = start_with(spec, h.dir, h.store.clone(), fresh);
    (h2, id, first)
}

const JOB: &str = r#"
[job.t]
command = ["agent"]
timeout = "1h"
"#;

#[tokio::test(start_paused = true)]
async fn a_running_job_is_adopted_not_relaunched_and_its_end_recorded() {
    let (h, id, first) = crash_with_a_running_job(JOB, |l, b| l.survivor(b, None)).await;
    let adopted = wait_for("the adoption", Duration::from_secs(10), || {
        let a = h.launcher.adoptions();
        async move { (!a.is_empty()).then_some(a) }
    })
    .await;
    assert_eq!(adopted[0].run, first.run);
    assert_eq!(adopted[0].box_name, first.box_name);
    let view = h.handle.job(id).await.unwrap();
    assert_eq!(view.state, JobState::Running);
    assert_eq!(view.run, Some(first.run), "the engine holds the adopted job live");
    assert!(view.pid.is_some());
    h.launcher.exit(first.run, ExitCause::Exited { code: 4 });
    let done = job_state(&h, id, JobState::Failed).await;
    assert_eq!(done.attempt, 1, "the adopted run is the same attempt");
    assert_eq!(h.store.run(first.run).unwrap().unwrap().cause, Some(ExitCause::Exited { code: 4 }));
    assert!(h.launcher.launches().is_empty(), "nothing ran twice");
    assert!(h.launcher.reclaimed().is_empty(), "nothing was killed");
}

#[tokio::test(start_paused = true)]
async fn a_job_that_ended_during_the_outage_gets_its_exact_status() {
    let (h, id, first) =
        crash_with_a_running_job(JOB, |l, b| l.survivor(b, Some(ExitCause::Exited { code: 0 })))
            .await;
    let done = job_state(&h, id, JobState::Succeeded).await;
    assert_eq!(done.attempt, 1);
    assert_eq!(h.store.run(first.run).unwrap().unwrap().cause, Some(ExitCause::Exited { code: 0 }));
    assert!(h.launcher.launches().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_vanished_job_is_interrupted_and_requeued_at_the_same_attempt() {
    // No retries at all: the requeue must not need (or spend) any.
    let (h, id, first) = crash_with_a_running_job(JOB, |_, _| {}).await;
    let relaunched = launches(&h, 1).await;
    let attempt = relaunched[0].env.iter().find(|(k, _)| k == "STOCKADE_ATTEMPT").unwrap();
    assert_eq!(attempt.1, "1", "the interrupted attempt is given back");
    let old = h.store.run(first.run).unwrap().unwrap();
    assert_eq!(old.cause, Some(ExitCause::Interrupted));
    let pm = h.store.postmortem(first.run).unwrap().expect("an interrupted run has a post-mortem");
    assert_eq!(pm.cause, ExitCause::Interrupted);
    assert_eq!(h.launcher.reclaimed(), vec![first.box_name.clone()], "its box is emptied");
    h.launcher.exit(relaunched[0].run, ExitCause::Exited { code: 0 });
    let done = job_state(&h, id, JobState::Succeeded).await;
    assert_eq!((done.attempt, done.max_attempts), (1, 1), "never ATTEMPT 2/1");
}

#[tokio::test(start_paused = true)]
async fn on_interrupt_fail_fails_the_job() {
    const SPEC: &str = r#"
[job.t]
command = ["agent"]
on_interrupt = "fail"
"#;
    let (h, id, first) = crash_with_a_running_job(SPEC, |_, _| {}).await;
    let failed = job_state(&h, id, JobState::Failed).await;
    assert!(failed.reason.unwrap().contains("on_interrupt = \"fail\""));
    assert_eq!(h.store.run(first.run).unwrap().unwrap().cause, Some(ExitCause::Interrupted));
    assert!(h.launcher.launches().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_surviving_service_keeps_its_run_pid_and_restart_count() {
    const SPEC: &str = r#"
[service.web]
command = ["agent"]
"#;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.db"), StoreOptions::default()).unwrap();
    let h = start_with(SPEC, dir, store, RecordingLauncher::new());
    let first = launches(&h, 1).await.remove(0);
    // One crash first, so the restart count is not zero.
    h.launcher.exit(first.run, ExitCause::Exited { code: 1 });
    let second = launches(&h, 2).await.remove(1);
    let handle = h.handle.clone();
    let before = wait_for("the replica running again", Duration::from_secs(30), || {
        let handle = handle.clone();
        async move {
            let status = handle.status().await.ok()?;
            let r = status.services.into_iter().next()?;
            (r.run == Some(second.run) && r.pid.is_some()).then_some(r)
        }
    })
    .await;
    let store = h.store.clone();
    wait_for("the pid stored", Duration::from_secs(10), || {
        let pid = store.run(second.run).ok().flatten().and_then(|r| r.pid);
        async move { pid }
    })
    .await;
    h.task.abort();
    let _ = h.task.await;
    let fresh = RecordingLauncher::new();
    fresh.survivor(&second.box_name, None);
    let h2 = start_with(SPEC, h.dir, h.store.clone(), fresh);
    let handle = h2.handle.clone();
    let after = wait_for("the adopted replica", Duration::from_secs(30), || {
        let handle = handle.clone();
        async move {
            let status = handle.status().await.ok()?;
            status.services.into_iter().next().filter(|r| r.run.is_some())
        }
    })
    .await;
    assert_eq!(after.run, before.run);
    assert_eq!(after.pid, before.pid);
    assert_eq!(after.restarts, before.restarts);
    assert_eq!(after.restarts, 1);
    assert!(h2.launcher.launches().is_empty(), "no restart");
}
