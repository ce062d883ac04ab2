//! One store per database file.

use crate::setup::Scratch;
use stockade_store::{Store, StoreError, StoreOptions};

#[test]
fn a_second_open_is_refused_with_the_holder_pid_until_the_first_closes() {
    let scratch = Scratch::new();
    let first = scratch.open();
    let err =
        Store::open(&scratch.path, StoreOptions::default()).err().expect("second open must fail");
    match &err {
        StoreError::Locked { path, holder_pid } => {
            assert_eq!(*holder_pid, Some(std::process::id()));
            assert!(path.ends_with("state.sqlite3.lock"), "{}", path.display());
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");

    // Dropping the last handle joins the writer and releases the lock.
    let clone = first.clone();
    drop(first);
    assert!(Store::open(&scratch.path, StoreOptions::default()).is_err(), "a clone still holds it");
    drop(clone);
    Store::open(&scratch.path, StoreOptions::default()).expect("reopen after close");
}
