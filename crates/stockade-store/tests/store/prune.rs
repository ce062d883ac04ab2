//! `Write::PrunePostMortems`: post-mortems of runs that ended before the
//! cut-off go, in one transaction; younger ones, those of jobs still queued
//! or running, and every job and run row stay.

use crate::setup::{Scratch, new_job, new_run};
use stockade_proto::{
    Evidence, ExitCause, HostSnapshot, JobId, JobState, LogTail, PostMortem, RunId,
};
use stockade_store::{Applied, Store, Write};

const CUT: u64 = 1_700_100_000_000;
const OLD: u64 = CUT - 1;
const YOUNG: u64 = CUT;

fn postmortem(run: RunId, unit: &str, line: &str) -> PostMortem {
    PostMortem {
        run,
        unit: unit.to_string(),
        summary: format!("run {run} exited 1"),
        cause: ExitCause::Exited { code: 1 },
        evidence: Evidence::default(),
        limits: Default::default(),
        restart_count: 0,
        started_at: 1,
        ended_at: 2,
        logs: LogTail { stdout: vec![line.to_string()], stderr: vec![] },
        probes: vec![],
        host: HostSnapshot::default(),
    }
}

/// A job whose one run ended at `ended_at` with a post-mortem, left in `state`.
async fn job_run(store: &Store, state: JobState, ended_at: u64) -> (JobId, RunId) {
    let job = store.submit_job(new_job("agent", 0)).await.unwrap().0.id;
    store.transition_job(job, (JobState::Queued, 0), JobState::Running, None).await.unwrap();
    let run = store.start_run(new_run("agent", Some(job), 1)).await.unwrap();
    store
        .end_run(run, (ExitCause::Exited { code: 1 }, Evidence::default()), ended_at)
        .await
        .unwrap();
    store.store_postmortem(postmortem(run, "agent", "x")).await.unwrap();
    match state {
        JobState::Running => {}
        JobState::Queued => {
            store.apply(vec![Write::Requeue { job, attempt: 1, reason: None }]).await.unwrap();
        }
        to => {
            store.transition_job(job, (JobState::Running, 1), to, None).await.unwrap();
        }
    }
    (job, run)
}

#[tokio::test]
async fn old_post_mortems_go_young_and_unfinished_jobs_ones_stay() {
    let scratch = Scratch::new();
    let store = scratch.open();
    let (failed_job, old_failed) = job_run(&store, JobState::Failed, OLD).await;
    let (_, young_failed) = job_run(&store, JobState::Failed, YOUNG).await;
    let (_, old_queued) = job_run(&store, JobState::Queued, OLD).await;
    let (_, old_running) = job_run(&store, JobState::Running, OLD).await;
    let service_old = store.start_run(new_run("web", None, 0)).await.unwrap();
    store.end_run(service_old, (ExitCause::Lost, Evidence::default()), OLD).await.unwrap();
    let tail = "y".repeat(1000);
    store.store_postmortem(postmortem(service_old, "web", &tail)).await.unwrap();
    let service_young = store.start_run(new_run("web", None, 1)).await.unwrap();
    store.end_run(service_young, (ExitCause::Lost, Evidence::default()), YOUNG).await.unwrap();
    store.store_postmortem(postmortem(service_young, "web", "z")).await.unwrap();
    let sizes: u64 = [old_failed, service_old]
        .iter()
        .map(|run| {
            serde_json::to_string(&store.postmortem(*run).unwrap().unwrap()).unwrap().len() as u64
        })
        .sum();

    let (postmortems, bytes) = store.prune_postmortems(CUT).await.unwrap();
    assert_eq!(postmortems, 2);
    assert_eq!(bytes, sizes, "the bytes are the deleted bodies' lengths");
    for gone in [old_failed, service_old] {
        assert_eq!(store.postmortem(gone).unwrap(), None, "run {gone}");
    }
    for kept in [young_failed, old_queued, old_running, service_young] {
        assert!(store.postmortem(kept).unwrap().is_some(), "run {kept} keeps its post-mortem");
    }
    // The job and its run are still there: only the post-mortem went.
    assert_eq!(store.job(failed_job).unwrap().unwrap().state, JobState::Failed);
    assert_eq!(store.run(old_failed).unwrap().unwrap().ended_at, Some(OLD));
    assert_eq!(store.job_ended_at(failed_job).unwrap(), Some(OLD));
    assert_eq!(store.replica_ended_at("web", 0).unwrap(), Some(YOUNG));
    assert_eq!(store.replica_ended_at("web", 1).unwrap(), None);

    // Nothing more to delete: a second sweep is a no-op; it survives reopen.
    let again = store.apply(vec![Write::PrunePostMortems { ended_before: CUT }]).await.unwrap();
    assert_eq!(again, [Applied::Pruned { postmortems: 0, bytes: 0 }]);
    drop(store);
    let store = scratch.open();
    assert_eq!(store.postmortem(old_failed).unwrap(), None);
    assert!(store.postmortem(young_failed).unwrap().is_some());
}
