//! A damaged file is moved aside and reported, never silently replaced: the
//! next open refuses until `new_store`.

use crate::setup::{Scratch, new_job};
use std::io::{Seek, SeekFrom, Write};
use stockade_store::{JobFilter, Store, StoreError, StoreOptions};

/// Open, expect `Corrupt`, and check the file moved where the error says.
fn assert_moved_aside(scratch: &Scratch, original: &[u8]) {
    let err = Store::open(&scratch.path, StoreOptions::default()).err().expect("open must fail");
    let StoreError::Corrupt { path, moved_to, detail } = &err else {
        panic!("expected Corrupt, got {err}");
    };
    assert_eq!(path, &scratch.path);
    assert!(!scratch.path.exists(), "no fresh store was created in its place");
    assert_eq!(std::fs::read(moved_to).unwrap(), original, "the moved file is the damaged one");
    let name = moved_to.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("state.sqlite3.corrupt-"), "{name}");
    assert!(!detail.is_empty());
    assert!(err.to_string().contains(&moved_to.display().to_string()), "{err}");

    // Opening again refuses, naming the moved file, until a new store is asked for.
    for _ in 0..2 {
        let again = Store::open(&scratch.path, StoreOptions::default()).err().expect("refused");
        let StoreError::MovedAside { path, moved_to: named, .. } = &again else {
            panic!("expected MovedAside, got {again}");
        };
        assert_eq!((path, named), (&scratch.path, moved_to));
        assert!(again.to_string().contains("--new-store"), "{again}");
        assert!(!scratch.path.exists(), "a refused open creates nothing");
    }
    let opts = StoreOptions { new_store: true, ..StoreOptions::default() };
    let fresh = Store::open(&scratch.path, opts).unwrap();
    assert!(fresh.jobs(&JobFilter::default()).unwrap().is_empty());
    drop(fresh);
    assert_eq!(std::fs::read(moved_to).unwrap(), original, "the moved file is kept");
    scratch.open(); // the new store is the store now
}

/// A closed store with enough jobs to span many pages; returns the file bytes.
async fn real_database(scratch: &Scratch) -> Vec<u8> {
    let store = scratch.open();
    for chunk in 0..10 {
        let jobs = (0..100).map(|i| new_job("a-template-name", chunk * 100 + i)).collect();
        store.submit_jobs(jobs).await.unwrap();
    }
    drop(store);
    std::fs::read(&scratch.path).unwrap()
}

#[test]
fn a_file_of_garbage_is_moved_aside() {
    let scratch = Scratch::new();
    // Deterministic pseudo-random bytes (xorshift), no SQLite header.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let garbage: Vec<u8> = (0..16384)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&scratch.path, &garbage).unwrap();
    assert_moved_aside(&scratch, &garbage);
}

#[tokio::test]
async fn a_real_database_with_overwritten_pages_is_moved_aside() {
    let scratch = Scratch::new();
    let bytes = real_database(&scratch).await;
    assert!(bytes.len() > 8 * 4096, "spans pages: {} bytes", bytes.len());
    let mut file = std::fs::OpenOptions::new().write(true).open(&scratch.path).unwrap();
    // Pages 3..5 hold tables and indexes; the header (page 1) stays valid, so
    // only the integrity check can tell.
    file.seek(SeekFrom::Start(2 * 4096 + 100)).unwrap();
    file.write_all(&vec![0xA5; 3 * 4096]).unwrap();
    drop(file);
    let damaged = std::fs::read(&scratch.path).unwrap();
    assert_moved_aside(&scratch, &damaged);
}

#[tokio::test]
async fn a_truncated_database_is_moved_aside() {
    let scratch = Scratch::new();
    let bytes = real_database(&scratch).await;
    let half = &bytes[..bytes.len() / 2];
    std::fs::write(&scratch.path, half).unwrap();
    assert_moved_aside(&scratch, half);
}
