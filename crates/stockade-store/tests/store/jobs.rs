//! Submissions: committed before acknowledged, present after reopen, listed
//! and ordered as documented, journaled, atomic per `apply`.

use crate::setup::{Scratch, new_job};
use stockade_proto::{EventKind, JobId, JobState};
use stockade_store::{JobFilter, StoreError, Write};

#[tokio::test]
async fn a_submitted_job_is_present_after_reopen() {
    let scratch = Scratch::new();
    let (record, event) = {
        let store = scratch.open();
        store.submit_job(new_job("agent", 0)).await.unwrap()
    };
    assert_eq!(record.state, JobState::Queued);
    assert_eq!(record.attempt, 0);
    assert_eq!(
        event.kind,
        EventKind::JobState { job: record.id, state: JobState::Queued, reason: None }
    );
    assert_eq!(event.unit, "agent");

    let store = scratch.open();
    assert_eq!(store.job(record.id).unwrap(), Some(record.clone()));
    assert_eq!(store.job(JobId(record.id.0 + 1)).unwrap(), None);
    assert_eq!(store.events_since(stockade_proto::Seq(0), 10).unwrap(), vec![event]);
}

#[tokio::test]
async fn ids_increase_and_listing_is_newest_first_with_filters() {
    let scratch = Scratch::new();
    let store = scratch.open();
    let mut ids = Vec::new();
    for template in ["a", "b", "a", "a"] {
        ids.push(store.submit_job(new_job(template, 0)).await.unwrap().0.id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    store
        .transition_job(ids[2], (JobState::Queued, 0), JobState::Cancelled, Some("asked".into()))
        .await
        .unwrap();

    let all: Vec<JobId> = store.jobs(&JobFilter::default()).unwrap().iter().map(|j| j.id).collect();
    assert_eq!(all, vec![ids[3], ids[2], ids[1], ids[0]]);

    let queued_a = JobFilter {
        states: vec![JobState::Queued],
        template: Some("a".into()),
        ..JobFilter::default()
    };
    let got: Vec<JobId> = store.jobs(&queued_a).unwrap().iter().map(|j| j.id).collect();
    assert_eq!(got, vec![ids[3], ids[0]]);

    let limited = JobFilter { limit: Some(1), ..JobFilter::default() };
    assert_eq!(store.jobs(&limited).unwrap().len(), 1);
    let other_pool = JobFilter { pool: Some("gpu".into()), ..JobFilter::default() };
    assert!(store.jobs(&other_pool).unwrap().is_empty());
}

#[tokio::test]
async fn unfinished_jobs_come_in_queue_order() {
    let scratch = Scratch::new();
    let store = scratch.open();
    let low = store.submit_job(new_job("t", 0)).await.unwrap().0.id;
    let high = store.submit_job(new_job("t", 5)).await.unwrap().0.id;
    let low2 = store.submit_job(new_job("t", 0)).await.unwrap().0.id;
    let done = store.submit_job(new_job("t", 9)).await.unwrap().0.id;
    store.transition_job(done, (JobState::Queued, 0), JobState::Running, None).await.unwrap();
    store.transition_job(done, (JobState::Running, 1), JobState::Succeeded, None).await.unwrap();
    let running = store.submit_job(new_job("t", 1)).await.unwrap().0.id;
    store.transition_job(running, (JobState::Queued, 0), JobState::Running, None).await.unwrap();

    let order: Vec<JobId> = store.unfinished_jobs().unwrap().iter().map(|j| j.id).collect();
    assert_eq!(order, vec![high, running, low, low2]);
}

#[tokio::test]
async fn one_apply_is_all_or_nothing() {
    let scratch = Scratch::new();
    let store = scratch.open();
    let writes = vec![
        Write::SubmitJob(new_job("t", 0)),
        Write::JobState {
            job: JobId(999),
            from: JobState::Queued,
            to: JobState::Running,
            attempt: 0,
            reason: None,
        },
    ];
    let err = store.apply(writes).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownJob { job: JobId(999) }), "{err}");
    assert!(store.jobs(&JobFilter::default()).unwrap().is_empty());
    assert_eq!(store.events_since(stockade_proto::Seq(0), 10).unwrap(), vec![]);

    // The writer is still healthy and the next unit commits.
    let jobs = store.submit_jobs(vec![new_job("t", 0), new_job("t", 1)]).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(store.jobs(&JobFilter::default()).unwrap().len(), 2);
}

#[tokio::test]
async fn every_transition_is_journaled_with_its_change() {
    let scratch = Scratch::new();
    let id = {
        let store = scratch.open();
        let id = store.submit_job(new_job("t", 0)).await.unwrap().0.id;
        store.transition_job(id, (JobState::Queued, 0), JobState::Running, None).await.unwrap();
        store
            .transition_job(id, (JobState::Running, 1), JobState::Failed, Some("exit 3".into()))
            .await
            .unwrap();
        id
    };
    let conn = rusqlite::Connection::open(&scratch.path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT from_state, to_state, attempt, reason FROM transitions \
             WHERE entity = 'job' AND entity_id = ?1 ORDER BY id",
        )
        .unwrap();
    let rows: Vec<(Option<String>, String, u32, Option<String>)> = stmt
        .query_map([id.0 as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (None, "queued".to_string(), 0, None),
            (Some("queued".to_string()), "running".to_string(), 1, None),
            (Some("running".to_string()), "failed".to_string(), 1, Some("exit 3".to_string())),
        ]
    );
}

#[test]
fn apply_blocking_works_outside_a_runtime() {
    let scratch = Scratch::new();
    let store = scratch.open();
    let applied = store.apply_blocking(vec![Write::SubmitJob(new_job("t", 0))]).unwrap();
    let job = applied[0].job().expect("a job").clone();
    assert_eq!(store.job(job.id).unwrap(), Some(job));
}
