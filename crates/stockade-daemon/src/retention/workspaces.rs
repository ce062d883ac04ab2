//! Workspace retention: a walled run's workspace (`<state_dir>/workspaces/
//! <box>`) and its exit record (`<box>.exit`) are kept after the run for the
//! post-mortem, and removed once the run ended longer ago than `[daemon]
//! workspace_retention` (default 7 days).
//!
//! When did a run end: the exit record's mtime once the box's init wrote
//! the agent's status into it (it is created empty at the spawn), else the
//! newer of the record's and the workspace's mtimes. A box the sandbox
//! still counts as live ([`Sandbox::is_live`]: a walled agent not yet
//! finished, or any process in its cgroup) is never touched, however old;
//! on the none backend (no cgroup to ask) neither is one whose exit record
//! was never written.

use std::path::Path;
use std::time::{Duration, SystemTime};

use stockade_sandbox::Sandbox;

/// One sweep of the workspaces in `dir` with the sandbox's view of which
/// boxes still live (blocking: it walks and deletes trees).
pub(crate) fn sweep_boxes(dir: &Path, keep: Duration, sandbox: &Sandbox) -> Swept {
    // Without cgroups a box that outlived a daemon restart leaves no trace
    // by name: an exit record the init never wrote then counts as a box
    // that may still run.
    let blind = sandbox.kind() == stockade_sandbox::BackendKind::None;
    let unwritten = |name: &str| {
        std::fs::metadata(dir.join(format!("{name}.exit"))).is_ok_and(|m| m.len() == 0)
    };
    sweep(dir, keep, SystemTime::now(), &|name| sandbox.is_live(name) || (blind && unwritten(name)))
}

/// What one sweep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Boxes whose workspace and record were removed.
    pub(crate) removed: Vec<String>,
    /// Old enough, but still live: kept.
    pub(crate) live: Vec<String>,
    /// What could not be removed, with why.
    pub(crate) failed: Vec<String>,
}

/// One sweep of `dir` at time `now`.
pub(crate) fn sweep(
    dir: &Path,
    keep: Duration,
    now: SystemTime,
    is_live: &dyn Fn(&str) -> bool,
) -> Swept {
    let mut swept = Swept::default();
    let Ok(entries) = std::fs::read_dir(dir) else { return swept };
    let mut boxes: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kind = e.file_type().ok()?;
            match name.strip_suffix(".exit") {
                Some(stem) if kind.is_file() => Some(stem.to_string()),
                _ if kind.is_dir() => Some(name),
                _ => None,
            }
        })
        .collect();
    boxes.sort();
    boxes.dedup();
    for name in boxes {
        let workspace = dir.join(&name);
        let record = dir.join(format!("{name}.exit"));
        let Some(ended) = ended_at(&workspace, &record) else { continue };
        if now.duration_since(ended).unwrap_or_default() < keep {
            continue;
        }
        if is_live(&name) {
            swept.live.push(name);
            continue;
        }
        match remove(&workspace, &record) {
            Ok(()) => swept.removed.push(name),
            Err(err) => swept.failed.push(format!("cannot remove {}: {err}", workspace.display())),
        }
    }
    swept
}

/// When the run of this workspace ended, as far as the files tell.
fn ended_at(workspace: &Path, record: &Path) -> Option<SystemTime> {
    let mtime = |p: &Path| std::fs::symlink_metadata(p).and_then(|m| m.modified()).ok();
    let written = std::fs::symlink_metadata(record).is_ok_and(|m| m.len() > 0);
    match (mtime(record), mtime(workspace)) {
        (Some(r), _) if written => Some(r),
        (Some(r), Some(w)) => Some(r.max(w)),
        (r, w) => r.or(w),
    }
}

fn remove(workspace: &Path, record: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(workspace) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            // A box may have left a directory without write or search
            // permission (chmod 0); its files are the daemon's to delete.
            make_removable(workspace);
            std::fs::remove_dir_all(workspace)?;
        }
        Err(e) => return Err(e),
    }
    match std::fs::remove_file(record) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// `u+rwx` on every directory below `dir` (symlinks are not followed).
fn make_removable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else { return };
    if !meta.is_dir() {
        return;
    }
    let mode = meta.permissions().mode() | 0o700;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            make_removable(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const DAY: Duration = Duration::from_secs(86_400);

    fn back_date(path: &Path, age: Duration) {
        let when = SystemTime::now() - age;
        std::fs::File::options()
            .write(!path.is_dir())
            .read(true)
            .open(path)
            .and_then(|f| f.set_modified(when))
            .unwrap();
    }

    fn make(dir: &Path, name: &str, record: Option<&str>, age: Duration) {
        let ws = dir.join(name);
        std::fs::create_dir_all(ws.join("sub")).unwrap();
        std::fs::write(ws.join("sub/file"), "x").unwrap();
        back_date(&ws, age);
        if let Some(text) = record {
            let path = dir.join(format!("{name}.exit"));
            std::fs::write(&path, text).unwrap();
            back_date(&path, age);
        }
    }

    #[test]
    fn old_ended_runs_go_recent_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make(d, "old.j1.1-1", Some("exited 0\n"), 8 * DAY);
        make(d, "old.j2.1-2", None, 9 * DAY);
        make(d, "recent.j3.1-3", Some("signaled 9\n"), DAY);
        make(d, "live.0.1-4", Some(""), 30 * DAY);
        // A record written long ago but a workspace touched since: the record wins.
        make(d, "ended.j5.1-5", Some("exited 1\n"), 10 * DAY);
        back_date(&d.join("ended.j5.1-5"), Duration::ZERO);
        std::fs::write(d.join("stray.txt"), "not a box").unwrap();
        // A box left an unwritable directory behind.
        std::fs::set_permissions(d.join("old.j1.1-1/sub"), std::fs::Permissions::from_mode(0o000))
            .unwrap();
        let swept = sweep(d, 7 * DAY, SystemTime::now(), &|name| name.starts_with("live."));
        assert_eq!(swept.removed, ["ended.j5.1-5", "old.j1.1-1", "old.j2.1-2"]);
        assert_eq!(swept.live, ["live.0.1-4"]);
        assert!(swept.failed.is_empty(), "{:?}", swept.failed);
        for gone in ["old.j1.1-1", "old.j1.1-1.exit", "old.j2.1-2", "ended.j5.1-5.exit"] {
            assert!(!d.join(gone).exists(), "{gone}");
        }
        for kept in
            ["recent.j3.1-3", "recent.j3.1-3.exit", "live.0.1-4", "live.0.1-4.exit", "stray.txt"]
        {
            assert!(d.join(kept).exists(), "{kept}");
        }
        // A missing directory is no error.
        assert_eq!(sweep(&d.join("none"), DAY, SystemTime::now(), &|_| false), Swept::default());
    }
}
