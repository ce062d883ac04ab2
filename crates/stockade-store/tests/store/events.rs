//! The event log: strictly increasing seqs, resumable, pruned to the retention.

use crate::setup::{Scratch, new_job};
use stockade_proto::{EventKind, Seq};
use stockade_store::{Store, StoreOptions};

fn daemon(message: &str) -> EventKind {
    EventKind::Daemon { message: message.to_string() }
}

#[tokio::test]
async fn seqs_increase_and_resume_from_any_point() {
    let scratch = Scratch::new();
    let store = scratch.open();
    assert_eq!(store.last_seq().unwrap(), Seq(0));
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(store.append_event(String::new(), daemon(&format!("e{i}"))).await.unwrap().seq);
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(store.last_seq().unwrap(), seqs[4]);
    let tail = store.events_since(seqs[1], 2).unwrap();
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![seqs[2], seqs[3]]);
    assert_eq!(tail[0].kind, daemon("e2"));
}

#[tokio::test]
async fn retention_prunes_old_events_and_never_reuses_a_seq() {
    let scratch = Scratch::new();
    let opts = StoreOptions { event_retention: 100, ..StoreOptions::default() };
    let last = {
        let store = Store::open(&scratch.path, opts.clone()).unwrap();
        // Submissions append events too; 3000 of them trigger pruning.
        for chunk in 0..30 {
            let jobs = (0..100).map(|i| new_job("t", chunk * 100 + i)).collect();
            store.submit_jobs(jobs).await.unwrap();
        }
        let kept = store.events_since(Seq(0), 10_000).unwrap();
        assert!(kept.len() < 3000, "pruning ran: {} events kept", kept.len());
        assert!(kept.len() >= 100, "the newest 100 are kept: {}", kept.len());
        store.last_seq().unwrap()
    };
    assert_eq!(last, Seq(3000));
    let store = Store::open(&scratch.path, opts).unwrap();
    let next = store.append_event(String::new(), daemon("after reopen")).await.unwrap();
    assert_eq!(next.seq, Seq(3001));
}
