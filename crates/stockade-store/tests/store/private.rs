//! Private by default: a pre-existing 0755 directory and 0644 files are
//! tightened to 0700/0600 at open; new files are created 0600.

use crate::setup::{Scratch, new_job};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// The mode as `stat` reports it (octal digits).
fn stat_mode(path: &Path) -> String {
    let out = Command::new("stat").args(["-c", "%a"]).arg(path).output().expect("run stat");
    assert!(out.status.success(), "stat {}", path.display());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn store_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect()
}

#[tokio::test]
async fn new_files_are_private() {
    let scratch = Scratch::new();
    let dir = scratch.path.parent().unwrap().to_path_buf();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = scratch.open();
    store.submit_job(new_job("t", 0)).await.unwrap();
    assert_eq!(stat_mode(&dir), "700");
    let files = store_files(&dir);
    let names: Vec<_> = files.iter().map(|f| f.file_name().unwrap().to_owned()).collect();
    for want in [
        "state.sqlite3",
        "state.sqlite3-wal",
        "state.sqlite3-shm",
        "state.marker.json",
        "state.reserve",
        "state.sqlite3.lock",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    for file in &files {
        assert_eq!(stat_mode(file), "600", "{}", file.display());
    }
}

#[tokio::test]
async fn loose_modes_left_by_others_are_tightened_at_open() {
    let scratch = Scratch::new();
    let dir = scratch.path.parent().unwrap().to_path_buf();
    let store = scratch.open();
    store.submit_job(new_job("t", 0)).await.unwrap();
    drop(store);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in store_files(&dir) {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    assert_eq!(stat_mode(&scratch.path), "644");
    let store = scratch.open();
    assert_eq!(stat_mode(&dir), "700");
    for file in store_files(&dir) {
        assert_eq!(stat_mode(&file), "600", "{}", file.display());
    }
    assert_eq!(store.jobs(&Default::default()).unwrap().len(), 1);
}
