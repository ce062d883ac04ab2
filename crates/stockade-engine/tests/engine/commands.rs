//! Commands in the states where they are easy to get wrong, through the real
//! loop: a cancel during a timeout's stop, a cancel after the end, a submit
//! during shutdown. (Every state × input pair is in `job_life`'s table test.)

use crate::helpers::*;
use std::time::Duration;
use stockade_engine::{EngineError, StopReason};
use stockade_proto::{ExitCause, JobRequest, JobState};

fn request(template: &str) -> JobRequest {
    JobRequest { template: template.into(), ..JobRequest::default() }
}

async fn stored(
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

#[tokio::test(start_paused = true)]
async fn a_cancel_while_a_timeout_stops_the_run_wins_and_a_late_cancel_is_refused() {
    let h = start(
        r#"
[job.slow]
command = ["agent"]
timeout = "30s"
retries = { max = 3, on = ["timed_out"] }
"#,
    );
    h.launcher.hold_stops();
    let id = h.handle.submit(request("slow")).await.unwrap().id;
    let run = launches(&h, 1).await[0].run;
    let launcher = h.launcher.clone();
    wait_for("timeout stop", Duration::from_secs(60), || {
        let stops = launcher.stops();
        async move { stops.first().filter(|s| s.1.reason == StopReason::Timeout).copied() }
    })
    .await;
    let view = h.handle.cancel(id).await.unwrap();
    assert_eq!((view.state, view.reason.as_deref()), (JobState::Running, Some("cancelling")));
    assert_eq!(h.launcher.stops().len(), 1, "already stopping: no second stop");
    h.launcher.exit(run, ExitCause::TimedOut);
    let done = stored(&h, id, JobState::Cancelled).await;
    assert_eq!(done.reason.as_deref(), Some("cancelled on request"), "not retried for timed_out");
    // The store row is read as soon as it is committed, a moment before the
    // engine has taken the commit's answer (the writer is a real thread, and
    // paused time jumps ahead meanwhile): from then on a cancel is refused.
    wait_for("a late cancel refused", Duration::from_secs(60), || {
        let handle = h.handle.clone();
        async move {
            matches!(handle.cancel(id).await, Err(EngineError::UnknownJob { .. })).then_some(())
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_submit_during_shutdown_is_refused_and_the_stopped_job_is_queued_again() {
    let h = start(
        r#"
[job.t]
command = ["agent"]
"#,
    );
    h.launcher.hold_stops();
    let id = h.handle.submit(request("t")).await.unwrap().id;
    let run = launches(&h, 1).await[0].run;
    let handle = h.handle.clone();
    let shutdown = tokio::spawn(async move { handle.shutdown().await });
    let launcher = h.launcher.clone();
    wait_for("shutdown stop", Duration::from_secs(60), || {
        let stops = launcher.stops();
        async move { stops.first().copied() }
    })
    .await;
    assert!(matches!(h.handle.submit(request("t")).await, Err(EngineError::ShuttingDown)));
    h.launcher.exit(run, ExitCause::Stopped);
    let report = shutdown.await.unwrap().unwrap();
    assert_eq!(report.clean, 1);
    let queued = stored(&h, id, JobState::Queued).await;
    assert_eq!(queued.reason.as_deref(), Some("daemon shut down; runs again at next start"));
}
