//! A schedule on the real engine, store and wall clock: every slot is
//! submitted as an ordinary job with `source = schedule`, and a crash of the
//! engine followed by a restart over the same store never fires a slot twice.

use crate::helpers::*;
use std::collections::BTreeSet;
use stockade_engine::RecordingLauncher;
use stockade_proto::{EventKind, JobSource, Seq};
use stockade_store::{JobFilter, Store, StoreOptions};

const SPEC: &str = r#"
[pool.default]
max_concurrency = 50

[job.tick]
command = ["agent"]
every = "1s"
overlap = "allow"
catch_up = "one"
"#;

async fn fired(h: &mut Harness) -> u64 {
    let e = event(h, "schedule_fired", |e| matches!(e.kind, EventKind::ScheduleFired { .. })).await;
    let EventKind::ScheduleFired { slot, .. } = e.kind else { unreachable!() };
    slot
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_and_restart_never_fire_a_slot_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.db"), StoreOptions::default()).unwrap();
    let mut h = start_with(SPEC, dir, store, RecordingLauncher::new());
    let first = fired(&mut h).await;
    assert_eq!(first % 1000, 0, "every slots are whole seconds");
    fired(&mut h).await;
    // Kill the engine mid-flight and start another over the same store at once.
    h.task.abort();
    let _ = h.task.await;
    let mut h = start_with(SPEC, h.dir, h.store.clone(), RecordingLauncher::new());
    fired(&mut h).await;
    fired(&mut h).await;
    let _ = h.handle.shutdown().await;

    let events = h.store.events_since(Seq(0), 10_000).unwrap();
    let slots: Vec<u64> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ScheduleFired { slot, .. } => Some(slot),
            _ => None,
        })
        .collect();
    let unique: BTreeSet<u64> = slots.iter().copied().collect();
    assert_eq!(unique.len(), slots.len(), "a slot fired twice: {slots:?}");
    assert!(slots.windows(2).all(|w| w[0] < w[1]), "slots in order: {slots:?}");
    assert!(slots.len() >= 4, "{slots:?}");
    let jobs =
        h.store.jobs(&JobFilter { template: Some("tick".into()), ..JobFilter::default() }).unwrap();
    assert_eq!(jobs.len(), slots.len(), "one job per fired slot");
    assert!(jobs.iter().all(|j| j.source == JobSource::Schedule));
    let last = h.store.schedule_slots().unwrap()["tick"];
    assert_eq!(last, *slots.last().unwrap(), "the store holds the last slot");
}
