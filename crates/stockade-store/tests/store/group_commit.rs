//! Group commit: concurrent writers share transactions.

use crate::setup::{Scratch, new_job};
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_submits_share_far_fewer_transactions() {
    let scratch = Scratch::new();
    let store = scratch.open();
    let before = store.stats();
    let mut calls = Vec::new();
    for _ in 0..1000 {
        let store = store.clone();
        calls.push(tokio::spawn(async move { store.submit_job(new_job("t", 0)).await }));
    }
    let mut ids = HashSet::new();
    for call in calls {
        ids.insert(call.await.unwrap().unwrap().0.id);
    }
    assert_eq!(ids.len(), 1000, "every submission got its own id");
    let after = store.stats();
    let transactions = after.transactions - before.transactions;
    assert_eq!(after.commands - before.commands, 1000);
    // One fsync'd commit per submission would be 1000 transactions; with the
    // writer draining its queue, submitters that arrive during a commit share
    // the next one.
    assert!(transactions < 500, "1000 submits took {transactions} transactions");
    println!("1000 concurrent submits: {transactions} transactions");
}
