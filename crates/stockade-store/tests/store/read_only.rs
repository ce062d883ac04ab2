//! `Store::open_read_only`: what `stockade logs | postmortem | events | ps -a`
//! use while no daemon runs — it reads what was stored and writes nothing:
//! no lock taken, no marker or database byte changed, no file created.

use crate::setup::{Scratch, new_job};
use std::collections::BTreeMap;
use std::path::Path;
use stockade_proto::Seq;
use stockade_store::{JobFilter, SCHEMA_VERSION, Store, StoreError};

/// Every file of `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

#[tokio::test]
async fn reads_what_a_closed_store_recorded_and_changes_no_file() {
    let scratch = Scratch::new();
    let (record, event) = {
        let store = scratch.open();
        store.submit_job(new_job("agent", 3)).await.unwrap()
    };
    let dir = scratch.path.parent().unwrap();
    let before = files(dir);

    let store = Store::open_read_only(&scratch.path).unwrap();
    assert_eq!(store.job(record.id).unwrap(), Some(record.clone()));
    assert_eq!(store.jobs(&JobFilter::default()).unwrap(), vec![record.clone()]);
    assert_eq!(store.events_since(Seq(0), 10).unwrap(), vec![event.clone()]);
    assert_eq!(store.last_seq().unwrap(), event.seq);
    let write = store.submit_job(new_job("agent", 0)).await.unwrap_err();
    assert!(matches!(write, StoreError::Closed { .. }), "{write}");
    drop(store);

    // SQLite may leave an empty WAL and its index beside a WAL database a
    // reader opened; every file that was there is byte for byte the same.
    let after = files(dir);
    for (name, bytes) in &before {
        assert_eq!(after.get(name), Some(bytes), "{name} changed");
    }
    for name in after.keys().filter(|n| !before.contains_key(*n)) {
        assert!(name.ends_with("-wal") || name.ends_with("-shm"), "the reader created {name}");
    }
    // And the daemon's next open still takes it (nothing refused, nothing moved).
    let store = scratch.open();
    assert_eq!(store.job(record.id).unwrap(), Some(record));
}

#[tokio::test]
async fn takes_no_lock_beside_a_running_daemon() {
    let scratch = Scratch::new();
    let daemon = scratch.open();
    let (record, _) = daemon.submit_job(new_job("agent", 0)).await.unwrap();
    let reader = Store::open_read_only(&scratch.path).unwrap();
    assert_eq!(reader.job(record.id).unwrap().map(|r| r.id), Some(record.id));
    let second = Store::open(&scratch.path, Default::default()).err();
    assert!(matches!(second, Some(StoreError::Locked { .. })), "{second:?}");
}

#[test]
fn a_missing_store_is_refused_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stockade.db");
    let err = Store::open_read_only(&path).err().expect("refused");
    assert!(matches!(err, StoreError::NoStore { .. }), "{err}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a reader created a file");
}

#[tokio::test]
async fn a_newer_or_older_schema_is_refused_untouched() {
    for (version, newer) in [(SCHEMA_VERSION + 1, true), (SCHEMA_VERSION - 1, false)] {
        let scratch = Scratch::new();
        drop(scratch.open());
        let conn = rusqlite::Connection::open(&scratch.path).unwrap();
        conn.pragma_update(None, "user_version", version).unwrap();
        drop(conn);
        let err = Store::open_read_only(&scratch.path).err().expect("refused");
        match err {
            StoreError::TooNew { found, .. } if newer => assert_eq!(found, version),
            StoreError::TooOld { found, .. } if !newer => assert_eq!(found, version),
            other => panic!("version {version}: {other}"),
        }
        let conn = rusqlite::Connection::open(&scratch.path).unwrap();
        let kept: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(kept, version, "the reader migrated the store");
    }
}
