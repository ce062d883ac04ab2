//! A store that existed is never silently replaced: deleted or truncated
//! between two opens, the next open refuses with the path and what to do,
//! until `new_store` starts an empty one and keeps the old files aside.

use crate::setup::{Scratch, new_job};
use stockade_store::{JobFilter, Store, StoreError, StoreOptions};

fn new_store() -> StoreOptions {
    StoreOptions { new_store: true, ..StoreOptions::default() }
}

/// A closed store holding three jobs.
async fn filled(scratch: &Scratch) {
    let store = scratch.open();
    store.submit_jobs((0..3).map(|i| new_job("t", i)).collect()).await.unwrap();
}

fn refused(scratch: &Scratch) -> StoreError {
    let err = Store::open(&scratch.path, StoreOptions::default()).err().expect("open must refuse");
    assert!(err.needs_new_store(), "{err}");
    let text = err.to_string();
    assert!(text.contains(&scratch.path.display().to_string()), "names the path: {text}");
    assert!(text.contains("--new-store"), "says how to start fresh: {text}");
    err
}

#[test]
fn a_first_open_in_an_empty_dir_creates_the_store_and_its_marker() {
    let scratch = Scratch::new();
    let store = scratch.open();
    assert!(store.jobs(&JobFilter::default()).unwrap().is_empty());
    // Page 1 is on disk once open returns (not only at checkpoint), so a
    // crash after open never leaves a 0-byte file that would be refused.
    assert!(std::fs::metadata(&scratch.path).unwrap().len() > 0, "never left empty");
    drop(store);
    let marker = scratch.path.with_file_name("state.marker.json");
    let text = std::fs::read_to_string(&marker).unwrap();
    assert!(text.contains("\"store_id\""), "{text}");
    scratch.open(); // and it opens again
}

#[tokio::test]
async fn a_deleted_store_is_refused_until_new_store() {
    let scratch = Scratch::new();
    filled(&scratch).await;
    std::fs::remove_file(&scratch.path).unwrap();
    for _ in 0..2 {
        let err = refused(&scratch);
        assert!(matches!(err, StoreError::Missing { .. }), "{err}");
        assert!(!scratch.path.exists(), "a refused open creates nothing");
    }
    let store = Store::open(&scratch.path, new_store()).unwrap();
    assert!(store.jobs(&JobFilter::default()).unwrap().is_empty());
    drop(store);
    scratch.open(); // the new store is remembered in its turn
}

#[tokio::test]
async fn a_store_truncated_to_zero_is_refused_and_kept_aside_by_new_store() {
    let scratch = Scratch::new();
    filled(&scratch).await;
    let before = std::fs::metadata(&scratch.path).unwrap().len();
    std::fs::File::create(&scratch.path).unwrap(); // truncates
    let err = refused(&scratch);
    match &err {
        StoreError::Empty { path, last_bytes } => {
            assert_eq!(path, &scratch.path);
            assert_eq!(*last_bytes, Some(before), "{err}");
        }
        other => panic!("expected Empty, got {other}"),
    }
    assert_eq!(std::fs::metadata(&scratch.path).unwrap().len(), 0, "left as found");

    let store = Store::open(&scratch.path, new_store()).unwrap();
    store.submit_job(new_job("t", 9)).await.unwrap();
    drop(store);
    let kept: Vec<_> = std::fs::read_dir(scratch.path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.sqlite3.old-"))
        .collect();
    assert_eq!(kept.len(), 1, "the empty file is kept aside: {kept:?}");
    assert_eq!(scratch.open().jobs(&JobFilter::default()).unwrap().len(), 1);
}

#[tokio::test]
async fn a_deleted_store_with_its_wal_and_shm_is_refused() {
    let scratch = Scratch::new();
    filled(&scratch).await;
    let dir = scratch.path.parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("state.sqlite3") {
            std::fs::remove_file(path).unwrap(); // rm state.sqlite3*
        }
    }
    assert!(matches!(refused(&scratch), StoreError::Missing { .. }));
}

#[tokio::test]
async fn a_restored_file_is_opened_again() {
    let scratch = Scratch::new();
    filled(&scratch).await;
    let backup = scratch.path.with_extension("backup");
    std::fs::rename(&scratch.path, &backup).unwrap();
    refused(&scratch);
    std::fs::rename(&backup, &scratch.path).unwrap();
    assert_eq!(scratch.open().jobs(&JobFilter::default()).unwrap().len(), 3);
}

#[tokio::test]
async fn an_unreadable_marker_is_refused() {
    let scratch = Scratch::new();
    filled(&scratch).await;
    std::fs::write(scratch.path.with_file_name("state.marker.json"), b"{not json").unwrap();
    let err = Store::open(&scratch.path, StoreOptions::default()).err().expect("refused");
    assert!(matches!(err, StoreError::BadMarker { .. }), "{err}");
    assert_eq!(
        Store::open(&scratch.path, new_store()).unwrap().jobs(&JobFilter::default()).unwrap().len(),
        0
    );
}
