//! Schedule slots: recorded with their event, survive a reopen, never move
//! back; a scheduled job keeps its source.

use crate::setup::{Scratch, new_job};
use stockade_proto::{EventKind, JobSource};
use stockade_store::{Applied, Write};

fn fired(template: &str, slot: u64) -> Write {
    Write::ScheduleSlot {
        template: template.into(),
        slot,
        kind: EventKind::ScheduleFired { slot, missed: 0 },
    }
}

#[tokio::test]
async fn a_slot_is_kept_with_its_event_and_only_moves_forward() {
    let scratch = Scratch::new();
    let store = scratch.open();
    assert!(store.schedule_slots().unwrap().is_empty());
    let mut job = new_job("cleanup", 0);
    job.source = JobSource::Schedule;
    let applied =
        store.apply(vec![Write::SubmitJob(job), fired("cleanup", 600_000)]).await.unwrap();
    let Applied::Event(event) = &applied[1] else { panic!("{applied:?}") };
    assert_eq!(
        (event.unit.as_str(), &event.kind),
        ("cleanup", &EventKind::ScheduleFired { slot: 600_000, missed: 0 })
    );
    let Applied::Job(record, _) = &applied[0] else { panic!("{applied:?}") };
    assert_eq!(record.source, JobSource::Schedule);
    // An older slot written late does not move the record back.
    store.apply(vec![fired("cleanup", 1_200_000), fired("cleanup", 0)]).await.unwrap();
    drop(store);
    let store = scratch.open();
    assert_eq!(store.schedule_slots().unwrap().get("cleanup"), Some(&1_200_000));
    let stored = store.job(record.id).unwrap().unwrap();
    assert_eq!(stored.source, JobSource::Schedule);
}
