//! The log sweep over real files with back-dated mtimes, judged by a real
//! store: what goes, and — as much the point — what stays.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use stockade_proto::{Evidence, ExitCause, JobId, JobSource, JobState, UnitKind, now_millis};
use stockade_store::{NewJob, NewRun, Store, StoreOptions, Write};

use super::logs::{self, Owner, Policy};
use super::runs::StoreRuns;

const DAY: Duration = Duration::from_secs(86_400);
const WEEK: Policy = Policy { max_age: Duration::from_secs(7 * 86_400), max_size: None };

/// A log file of `size` bytes last written `age` ago.
fn file(path: &Path, size: usize, age: Duration) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, vec![b'x'; size]).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

fn ago(age: Duration) -> u64 {
    now_millis() - age.as_millis() as u64
}

fn run_of(unit: &str, job: Option<JobId>, replica: u32) -> NewRun {
    NewRun {
        unit: unit.to_string(),
        kind: if job.is_some() { UnitKind::Job } else { UnitKind::Service },
        job,
        replica,
        attempt: 1,
        pid: Some(1),
        box_name: format!("{unit}.{replica}.1-1"),
        started_at: ago(30 * DAY),
        limits: Default::default(),
    }
}

/// A job whose first run ended `ended` ago, then left in `state`.
async fn job(store: &Store, ended: Option<Duration>, state: JobState) -> JobId {
    let new = NewJob {
        template: "agent".into(),
        pool: "default".into(),
        args: vec![],
        env: BTreeMap::new(),
        priority: 0,
        max_attempts: 3,
        submitted_at: ago(30 * DAY),
        idempotency_key: None,
        source: JobSource::Api,
    };
    let id = store.submit_job(new).await.unwrap().0.id;
    if state == JobState::Queued && ended.is_none() {
        return id;
    }
    store.transition_job(id, (JobState::Queued, 0), JobState::Running, None).await.unwrap();
    let run = store.start_run(run_of("agent", Some(id), 0)).await.unwrap();
    let Some(ended) = ended else { return id };
    let cause = (ExitCause::Exited { code: 1 }, Evidence::default());
    store.end_run(run, cause, ago(ended)).await.unwrap();
    match state {
        JobState::Queued => {
            store.apply(vec![Write::Requeue { job: id, attempt: 1, reason: None }]).await.unwrap();
        }
        to => {
            store.transition_job(id, (JobState::Running, 1), to, None).await.unwrap();
        }
    }
    id
}

#[tokio::test]
async fn ended_runs_logs_go_by_age_live_recent_and_unknown_files_stay() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("stockade.db"), StoreOptions::default()).unwrap();
    let logs_dir = dir.path().join("logs");
    let jobs = logs_dir.join("jobs");

    let failed_long_ago = job(&store, Some(10 * DAY), JobState::Failed).await;
    // Silent for nine days, then it ended yesterday: judged by its end.
    let ended_yesterday = job(&store, Some(DAY), JobState::Succeeded).await;
    // A retry waiting in the queue: its next attempt appends to the same file.
    let queued_retry = job(&store, Some(10 * DAY), JobState::Queued).await;
    let running = job(&store, None, JobState::Running).await;
    let never_ran = job(&store, None, JobState::Queued).await;
    let gone = store.start_run(run_of("old", None, 0)).await.unwrap();
    store.end_run(gone, (ExitCause::Lost, Evidence::default()), ago(9 * DAY)).await.unwrap();
    // A replica that was stopped long ago but whose box was left running.
    store.start_run(run_of("left", None, 0)).await.unwrap();

    let name = |id: JobId, suffix: &str| jobs.join(format!("{}.log{suffix}", id.0));
    let deleted = [
        name(failed_long_ago, ""),
        name(failed_long_ago, ".1"),
        name(ended_yesterday, ".1"), // rotated, nine days old
        name(queued_retry, ".2"),    // rotated, twelve days old
        jobs.join("99.log"),         // no such job: its mtime decides
        logs_dir.join("web.0.log.1"),
        logs_dir.join("old.0.log"),
    ];
    let kept = [
        name(ended_yesterday, ""),
        name(queued_retry, ""),
        name(queued_retry, ".1"), // rotated, but only two days old
        name(running, ""),
        name(never_ran, ""),
        jobs.join("98.log"),
        logs_dir.join("web.0.log"), // the engine's live replica, silent for a month
        logs_dir.join("web.1.log"), // a stopped replica's recent log
        logs_dir.join("left.0.log"),
        logs_dir.join("notes.txt"),
        jobs.join("abc.log"),
    ];
    let ages = [10, 11, 9, 12, 8, 30, 9, 9, 10, 2, 20, 20, 1, 30, 3, 40, 40, 40];
    for (path, days) in deleted.iter().chain(&kept).zip(ages) {
        file(path, 100, days * DAY);
    }

    let files = logs::scan(&logs_dir);
    assert_eq!(files.len(), 16, "notes.txt and abc.log are nobody's logs: {files:#?}");
    let live = [Owner::Replica { service: "web".into(), replica: 0 }];
    let runs = StoreRuns::read(store.clone(), live).unwrap();
    let swept = logs::sweep(files, WEEK, SystemTime::now(), &runs);

    for path in &deleted {
        assert!(!path.exists(), "{} should be gone", path.display());
    }
    for path in &kept {
        assert!(path.exists(), "{} should be kept", path.display());
    }
    assert_eq!(swept.by_age, deleted.len() as u64);
    assert_eq!((swept.by_size, swept.bytes, swept.over), (0, 700, None));
    assert_eq!(swept.kept_bytes, 900);
    assert!(swept.failed.is_empty(), "{:?}", swept.failed);
}

/// The fake for the size rule: its order is all that is under test there.
struct Fixed(Vec<Owner>);

impl logs::Runs for Fixed {
    fn is_live(&self, owner: &Owner) -> bool {
        self.0.contains(owner)
    }
    fn ended_at(&self, _: &Owner) -> Option<SystemTime> {
        None
    }
}

#[test]
fn over_max_size_the_oldest_ended_files_go_first_and_a_live_file_never() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    const K: usize = 1 << 20;
    // Live job 1: its live file is the oldest of all and the biggest.
    file(&d.join("jobs/1.log"), 3 * K, 6 * DAY);
    file(&d.join("jobs/1.log.1"), K, 5 * DAY);
    // Ended job 2 and replica api.0, all younger than max_age.
    file(&d.join("jobs/2.log"), K, 2 * DAY);
    file(&d.join("jobs/2.log.1"), K, 4 * DAY);
    file(&d.join("api.0.log"), K, DAY);
    let live = Fixed(vec![Owner::Job(JobId(1))]);
    let policy = Policy { max_size: Some(5 * K as u64), ..WEEK };

    // 7 MiB stored, 5 allowed: job 2's rotated file, then its live one.
    let swept = logs::sweep(logs::scan(d), policy, SystemTime::now(), &live);
    assert_eq!((swept.by_age, swept.by_size, swept.bytes), (0, 2, 2 * K as u64));
    assert!(!d.join("jobs/2.log.1").exists() && !d.join("jobs/2.log").exists());
    assert!(d.join("api.0.log").exists() && d.join("jobs/1.log.1").exists());
    assert_eq!(swept.over, None);

    // 2 MiB allowed: the ended replica's file, then the live job's rotated
    // one; its live file stays, and the sweep says by how much it is over.
    let policy = Policy { max_size: Some(2 * K as u64), ..WEEK };
    let swept = logs::sweep(logs::scan(d), policy, SystemTime::now(), &live);
    assert_eq!(swept.by_size, 2);
    assert!(!d.join("api.0.log").exists() && !d.join("jobs/1.log.1").exists());
    assert!(d.join("jobs/1.log").exists(), "a live run's live file never goes");
    assert_eq!(swept.over, Some(K as u64));
    assert_eq!(swept.kept_bytes, 3 * K as u64);
}

#[test]
fn a_file_renamed_since_the_scan_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    file(&d.join("web.0.log.1"), 10, 30 * DAY);
    let files = logs::scan(d);
    // A rotation moved `.1` to `.2` and wrote a new `.1` in between.
    std::fs::rename(d.join("web.0.log.1"), d.join("web.0.log.2")).unwrap();
    file(&d.join("web.0.log.1"), 10, 30 * DAY);
    let swept = logs::sweep(files, WEEK, SystemTime::now(), &Fixed(vec![]));
    assert_eq!(swept.removed(), 0);
    assert!(d.join("web.0.log.1").exists());
}
