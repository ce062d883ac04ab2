//! Removing stockade's whole parent subtree (tests, uninstall): every box
//! below it is killed and removed, deepest first, then the parent itself.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::SandboxError;
use crate::backend::{file, signal_pids};

/// Kill everything under `dir` and remove it, children first. Blocks for up
/// to a few seconds per directory while killed processes are reaped.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), SandboxError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SandboxError::io("list", dir, e)),
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    // A frozen box never dies: thaw first (v1 freezer; absent elsewhere).
    let _ = file::write(&dir.join("freezer.state"), "THAWED");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(SandboxError::io("remove", dir, e)),
            Err(_) => {}
        }
        let _ = file::write(&dir.join("cgroup.kill"), "1");
        if let Ok(pids) = file::read_pids(&dir.join("cgroup.procs")) {
            signal_pids(&pids, libc::SIGKILL);
        }
        // A blocking pause, by design: only `Sandbox::remove_subtree` calls
        // this (tests' cleanup threads, uninstall, `stop::force` on the
        // blocking pool), never an async task.
        std::thread::sleep(Duration::from_millis(2));
    }
}
