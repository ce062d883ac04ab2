//! A full filesystem: the batch fails with `DiskFull`, the writer survives,
//! nothing committed before is lost, and writes succeed again once there is room.
//!
//! Runs on a 1 MiB tmpfs mounted (as root) under the test's own tempdir and
//! unmounted by a guard; skipped with a reason where mounting is not allowed.

use crate::setup::new_job;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use stockade_store::{JobFilter, Store, StoreError, StoreOptions};

/// A tmpfs mount that is unmounted on drop, also when the test fails.
pub struct TmpfsMount {
    pub target: PathBuf,
}

impl TmpfsMount {
    pub fn new(target: &Path, size: &str) -> Result<TmpfsMount, String> {
        std::fs::create_dir_all(target).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "stockade-store-test"])
            .arg(target)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
        }
        Ok(TmpfsMount { target: target.to_path_buf() })
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let status = Command::new("umount").arg(&self.target).status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("could not unmount {}: {status:?}", self.target.display());
        }
    }
}

/// A tmpfs of `size` under `dir`, or `None` (with the reason printed) where
/// this process may not mount one.
pub fn tmpfs_or_skip(dir: &Path, size: &str) -> Option<TmpfsMount> {
    match TmpfsMount::new(&dir.join("mnt"), size) {
        Ok(mount) => Some(mount),
        Err(reason) => {
            println!("skipped: cannot mount a tmpfs here (needs root): {reason}");
            None
        }
    }
}

/// A job whose one argument is `bytes` long: a few hundred fill a small disk.
pub fn big_job(i: i32, bytes: usize) -> stockade_store::NewJob {
    let mut job = crate::setup::new_job("t", i);
    job.args = vec!["x".repeat(bytes)];
    job
}

/// Write zeros into `path` until the filesystem refuses.
pub fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

#[tokio::test]
async fn a_full_disk_fails_the_batch_and_the_writer_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = tmpfs_or_skip(dir.path(), "1m") else { return };
    let db = mount.target.join("state.sqlite3");
    // No reserve: this is the bare path (the reserve has its own test).
    let opts = StoreOptions { reserve_bytes: 0, ..StoreOptions::default() };
    let store = Store::open(&db, opts).unwrap();
    let (kept, _) = store.submit_job(new_job("t", 0)).await.unwrap();

    let filler = mount.target.join("filler");
    fill(&filler);
    let big = |i| big_job(i, 2000);
    let err = store.submit_jobs((0..200).map(big).collect()).await.unwrap_err();
    match &err {
        StoreError::DiskFull { path } => assert_eq!(path, &db),
        other => panic!("expected DiskFull, got {other}"),
    }
    assert!(err.is_retryable());
    assert!(!store.health().ready, "{:?}", store.health());
    assert!(err.to_string().contains("hint: free space"), "{err}");
    assert!(store.stats().failed_transactions >= 1);

    std::fs::remove_file(&filler).unwrap();
    let (after, _) = store.submit_job(new_job("t", 1)).await.expect("writes work again");
    assert!(store.health().ready, "{:?}", store.health());
    let ids: Vec<_> = store.jobs(&JobFilter::default()).unwrap().iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![after.id, kept.id], "the failed batch left nothing behind");
    drop(store);
    drop(mount);
}
