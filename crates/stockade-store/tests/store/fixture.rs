//! The v1 database fixture (written by `examples/v1_fixture.rs` when the
//! schema was at version 1) must open, migrate and read back. Future
//! migrations keep this test green.

use std::path::Path;
use stockade_proto::{ExitCause, JobId, JobState, RunId, Seq, UnitKind};
use stockade_store::{JobFilter, SCHEMA_VERSION, Store, StoreOptions};

#[test]
fn the_v1_fixture_opens_migrates_and_reads_back() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.sqlite3");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.sqlite3");
    // Migrating writes; the committed fixture must stay version 1.
    std::fs::copy(&fixture, &db).unwrap();

    let store = Store::open(&db, StoreOptions::default()).unwrap();
    let jobs = store.jobs(&JobFilter::default()).unwrap();
    assert_eq!(jobs.len(), 3);
    let queued = store.job(JobId(1)).unwrap().unwrap();
    assert_eq!(queued.template, "agent");
    assert_eq!(queued.args, vec!["--task".to_string(), "fix the build".to_string()]);
    assert_eq!(queued.env.get("MODE").map(String::as_str), Some("fast"));
    assert_eq!(queued.state, JobState::Queued);
    assert_eq!(queued.priority, 5);
    assert_eq!(
        queued.source,
        stockade_proto::JobSource::Api,
        "jobs before schedules came from the API"
    );
    assert!(store.schedule_slots().unwrap().is_empty());

    let failed = store.job(JobId(2)).unwrap().unwrap();
    assert_eq!((failed.state, failed.attempt), (JobState::Failed, 1));
    assert_eq!(failed.cause, Some(ExitCause::OomKilled));

    let running = store.job(JobId(3)).unwrap().unwrap();
    assert_eq!((running.state, running.attempt), (JobState::Running, 1));

    let run = store.run(RunId(1)).unwrap().unwrap();
    assert_eq!(run.job, Some(JobId(2)));
    assert_eq!(run.kind, UnitKind::Job);
    assert_eq!(run.limits.memory, Some(256 << 20));
    assert_eq!(run.evidence.as_ref().and_then(|e| e.oom_kills), Some(1));
    assert_eq!(store.open_runs().unwrap().len(), 1);

    let pm = store.postmortem(RunId(1)).unwrap().unwrap();
    assert_eq!(pm.cause, ExitCause::OomKilled);
    assert_eq!(pm.logs.stderr, vec!["Killed".to_string()]);

    let events = store.events_since(Seq(0), 100).unwrap();
    assert!(events.len() >= 6, "{} events", events.len());
    drop(store);

    // user_version is the big-endian u32 at offset 60 of the file header;
    // reading the bytes leaves the committed fixture untouched.
    let version = |path: &Path| -> u32 {
        let bytes = std::fs::read(path).unwrap();
        u32::from_be_bytes(bytes[60..64].try_into().unwrap())
    };
    assert_eq!(version(&db), SCHEMA_VERSION, "migrated to the current schema");
    assert_eq!(version(&fixture), 1, "the committed fixture must stay a version-1 file");
}
