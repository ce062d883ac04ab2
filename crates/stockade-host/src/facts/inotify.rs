//! inotify limits (`fs.inotify.max_user_watches`, `max_user_instances`) and,
//! on a deep read, how many instances and watches each uid holds.
//!
//! The kernel keeps per-user counters but does not export them, so usage is
//! counted the way `inotify-info` does: every fd whose link reads
//! `anon_inode:inotify` is an instance, and each `inotify wd:` line of its
//! fdinfo is a watch. That walks every fd of every process, which is why only
//! `stockade doctor` asks for it.

use crate::HostRoot;
use crate::probe::{Probe, Unknown, read_u64};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

/// The two per-user limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InotifyLimits {
    /// `fs.inotify.max_user_watches`.
    pub max_user_watches: u64,
    /// `fs.inotify.max_user_instances`.
    pub max_user_instances: u64,
}

/// What the busiest uid holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InotifyUsage {
    /// The uid holding the most instances.
    pub uid: u32,
    /// Its instances.
    pub instances: u64,
    /// Its watches (the uid with the most watches may differ; this is the max of each).
    pub watches: u64,
}

/// Read the two limits.
pub fn read_limits(root: &HostRoot) -> Probe<InotifyLimits> {
    Ok(InotifyLimits {
        max_user_watches: read_u64(root, &root.sysctl_path("fs.inotify.max_user_watches"))?,
        max_user_instances: read_u64(root, &root.sysctl_path("fs.inotify.max_user_instances"))?,
    })
}

/// Count instances and watches per uid by walking `/proc/[pid]/fd`. Processes
/// that exit mid-walk or hide their fds (other users' when not root) are skipped.
pub fn scan_usage(root: &HostRoot) -> Probe<InotifyUsage> {
    let entries = std::fs::read_dir(&root.proc)
        .map_err(|e| Unknown::new(root.display(&root.proc), e.to_string()))?;
    let mut per_uid: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let mut seen = 0usize;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        seen += 1;
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else { continue };
            if link.as_os_str() != "anon_inode:inotify" {
                continue;
            }
            let fdinfo = root.proc.join(pid).join("fdinfo").join(fd.file_name());
            let watches = std::fs::read_to_string(fdinfo)
                .map(|t| t.lines().filter(|l| l.starts_with("inotify wd:")).count() as u64)
                .unwrap_or(0);
            let counts = per_uid.entry(meta.uid()).or_default();
            counts.0 += 1;
            counts.1 += watches;
        }
    }
    if seen == 0 {
        return Err(Unknown::new(root.display(&root.proc), "no readable /proc/[pid]/fd directory"));
    }
    let (uid, (instances, _)) =
        per_uid.iter().max_by_key(|(_, c)| c.0).map(|(u, c)| (*u, *c)).unwrap_or((0, (0, 0)));
    let watches = per_uid.values().map(|c| c.1).max().unwrap_or(0);
    Ok(InotifyUsage { uid, instances, watches })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn instances_and_watches_are_counted_from_fd_links_and_fdinfo() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::under(dir.path());
        let fd = root.proc.join("42/fd");
        let info = root.proc.join("42/fdinfo");
        std::fs::create_dir_all(&fd).unwrap();
        std::fs::create_dir_all(&info).unwrap();
        symlink("anon_inode:inotify", fd.join("3")).unwrap();
        symlink("anon_inode:inotify", fd.join("4")).unwrap();
        symlink("/dev/null", fd.join("5")).unwrap();
        std::fs::write(info.join("3"), "pos:\t0\ninotify wd:1 ino:2\ninotify wd:2 ino:3\n")
            .unwrap();
        std::fs::write(info.join("4"), "pos:\t0\ninotify wd:1 ino:9\n").unwrap();
        std::fs::create_dir_all(root.proc.join("sys")).unwrap();
        let usage = scan_usage(&root).unwrap();
        assert_eq!((usage.instances, usage.watches), (2, 3));
    }

    #[test]
    fn the_real_proc_scans() {
        let usage = scan_usage(&HostRoot::default()).unwrap();
        eprintln!("busiest inotify uid on this host: {usage:?}");
        let limits = read_limits(&HostRoot::default()).unwrap();
        assert!(limits.max_user_instances > 0);
    }
}
