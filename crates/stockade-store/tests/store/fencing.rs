//! Attempt fencing: a transition applies only if the job is still in the state
//! and attempt the caller saw.

use crate::setup::{Scratch, new_job};
use stockade_proto::{JobId, JobState};
use stockade_store::StoreError;

#[tokio::test]
async fn a_stale_attempt_is_refused_and_changes_nothing() {
    let scratch = Scratch::new();
    let store = scratch.open();
    let id = store.submit_job(new_job("t", 0)).await.unwrap().0.id;
    let (first, _) =
        store.transition_job(id, (JobState::Queued, 0), JobState::Running, None).await.unwrap();
    assert_eq!(first.attempt, 1);
    assert!(first.started_at.is_some());
    store
        .transition_job(id, (JobState::Running, 1), JobState::Queued, Some("retry".into()))
        .await
        .unwrap();
    let (second, _) =
        store.transition_job(id, (JobState::Queued, 1), JobState::Running, None).await.unwrap();
    assert_eq!(second.attempt, 2);

    // The first attempt's late completion arrives.
    let err = store
        .transition_job(id, (JobState::Running, 1), JobState::Succeeded, None)
        .await
        .unwrap_err();
    match err {
        StoreError::Fenced { job, expected_attempt: 1, found_state, found_attempt: 2, .. } => {
            assert_eq!(job, id);
            assert_eq!(found_state, JobState::Running);
        }
        other => panic!("expected Fenced, got {other}"),
    }
    assert_eq!(store.job(id).unwrap(), Some(second.clone()));

    let (done, _) =
        store.transition_job(id, (JobState::Running, 2), JobState::Succeeded, None).await.unwrap();
    assert!(done.finished_at.is_some());
    assert_eq!(done.state, JobState::Succeeded);
}

#[tokio::test]
async fn a_wrong_from_state_is_refused() {
    let scratch = Scratch::new();
    let store = scratch.open();
    let id = store.submit_job(new_job("t", 0)).await.unwrap().0.id;
    let err =
        store.transition_job(id, (JobState::Running, 0), JobState::Failed, None).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Fenced { found_state: JobState::Queued, found_attempt: 0, .. }),
        "{err}"
    );
    let err = store
        .transition_job(JobId(77), (JobState::Queued, 0), JobState::Running, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownJob { job: JobId(77) }), "{err}");
}

#[tokio::test]
async fn a_refused_write_does_not_sink_the_rest_of_its_batch() {
    let scratch = Scratch::new();
    let store = scratch.open();
    let id = store.submit_job(new_job("t", 0)).await.unwrap().0.id;
    // Queue many submissions together with one stale transition so they share
    // a group commit; only the stale one may fail.
    let mut calls = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        calls.push(tokio::spawn(async move {
            if i == 25 {
                store
                    .transition_job(id, (JobState::Running, 3), JobState::Failed, None)
                    .await
                    .map(|_| ())
            } else {
                store.submit_job(new_job("t", 0)).await.map(|_| ())
            }
        }));
    }
    let mut failures = 0;
    for call in calls {
        if let Err(err) = call.await.unwrap() {
            assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
            failures += 1;
        }
    }
    assert_eq!(failures, 1);
    assert_eq!(store.jobs(&Default::default()).unwrap().len(), 50);
    assert_eq!(store.job(id).unwrap().unwrap().state, JobState::Queued);
}
