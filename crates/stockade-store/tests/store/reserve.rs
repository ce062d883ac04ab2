//! A full disk with the reserve: the batch fails with the typed, retryable
//! `DiskFull`, the reserve is released so what already happened (a job's
//! transition) still commits while submissions are refused, nothing
//! acknowledged is lost, and once space returns the same store instance
//! re-allocates its reserve by itself and admits submissions again.
//!
//! Runs on a 16 MiB tmpfs (mounted as root, unmounted by a guard, also when
//! the test fails); skipped with a reason where mounting is not allowed.

use crate::disk_full::{big_job, fill, tmpfs_or_skip};
use crate::setup::new_job;
use std::time::{Duration, Instant};
use stockade_proto::JobState;
use stockade_store::{JobFilter, Store, StoreError, StoreOptions};

const RESERVE: u64 = 4 << 20;

#[tokio::test]
async fn a_full_disk_releases_the_reserve_and_the_store_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = tmpfs_or_skip(dir.path(), "16m") else { return };
    let db = mount.target.join("state.sqlite3");
    let reserve = mount.target.join("state.reserve");
    let opts = StoreOptions { reserve_bytes: RESERVE, ..StoreOptions::default() };
    let store = Store::open(&db, opts.clone()).unwrap();
    assert_eq!(std::fs::metadata(&reserve).unwrap().len(), RESERVE);
    let health = store.health();
    assert!(health.ready && health.reserve_held, "{health:?}");

    let mut acknowledged = Vec::new();
    for (job, _) in store.submit_jobs((0..50).map(|i| new_job("t", i)).collect()).await.unwrap() {
        acknowledged.push(job.id);
    }
    let filler = mount.target.join("filler");
    fill(&filler);

    let big = |i| big_job(i, 4000);
    let err = store.submit_jobs((0..500).map(big).collect()).await.unwrap_err();
    assert!(matches!(&err, StoreError::DiskFull { path } if path == &db), "{err}");
    assert!(err.is_retryable(), "{err}");
    assert!(!reserve.exists(), "the reserve was released");
    let health = store.health();
    assert!(!health.ready && health.refusing_submissions && !health.reserve_held, "{health:?}");
    assert!(health.reason.as_deref().is_some_and(|r| r.contains("full")), "{health:?}");

    // What already happened is still recorded, in the reserve's space...
    let (running, _) = store
        .transition_job(acknowledged[0], (JobState::Queued, 0), JobState::Running, None)
        .await
        .expect("a transition commits while the disk is full");
    // ...while new work is refused, retryably.
    let refused = store.submit_job(new_job("t", 99)).await.unwrap_err();
    assert!(matches!(refused, StoreError::DiskFull { .. }) && refused.is_retryable());

    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.health().ready {
        assert!(Instant::now() < deadline, "did not recover: {:?}", store.health());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(std::fs::metadata(&reserve).unwrap().len(), RESERVE, "allocated again");
    let (after, _) = store.submit_job(new_job("t", 1)).await.expect("the same store commits again");
    acknowledged.push(after.id);

    let check = |store: &Store| {
        let jobs = store.jobs(&JobFilter::default()).unwrap();
        let mut ids: Vec<_> = jobs.iter().map(|j| j.id).collect();
        ids.sort();
        assert_eq!(ids, acknowledged, "every acknowledged job, and only those");
        let first = jobs.iter().find(|j| j.id == running.id).unwrap();
        assert_eq!(first.state, JobState::Running);
    };
    check(&store);
    drop(store);
    check(&Store::open(&db, opts).unwrap());
    drop(mount);
}

/// The last write before space returns is one that failed, and nothing
/// writes afterwards: the store still becomes ready by itself (the idle
/// writer commits a probe), without a reserve and without a caller.
#[tokio::test]
async fn a_failed_last_write_does_not_leave_the_store_unready_once_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = tmpfs_or_skip(dir.path(), "16m") else { return };
    let db = mount.target.join("state.sqlite3");
    let opts = StoreOptions { reserve_bytes: 0, ..StoreOptions::default() };
    let store = Store::open(&db, opts).unwrap();
    let filler = mount.target.join("filler");
    fill(&filler);
    let big = |i| big_job(i, 4000);
    let err = store.submit_jobs((0..500).map(big).collect()).await.unwrap_err();
    assert!(matches!(&err, StoreError::DiskFull { .. }), "{err}");
    assert!(!store.health().ready, "{:?}", store.health());

    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.health().ready {
        assert!(Instant::now() < deadline, "never ready again: {:?}", store.health());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (job, _) = store.submit_job(new_job("t", 1)).await.expect("commits again");
    assert_eq!(store.jobs(&JobFilter::default()).unwrap().len(), 1, "only {job:?} was kept");
    drop(store);
    drop(mount);
}
