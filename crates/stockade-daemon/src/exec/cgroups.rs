//! Which cgroup directories a process's box is: the hierarchies where the
//! process sits elsewhere than the daemon, resolved to paths through
//! `/proc/self/mountinfo` (v1 per-controller mounts and the v2 mount alike).

use std::path::{Path, PathBuf};
use stockade_linux::{Mount, mountinfo, proc_cgroup};

/// The cgroup directories of the process whose `/proc/PID/cgroup` is
/// `target`, in every hierarchy where it differs from the daemon's own
/// (`own`): exactly the box's cgroups, never the daemon's.
pub fn box_dirs(mountinfo: &str, own: &str, target: &str) -> Vec<PathBuf> {
    let mounts: Vec<Mount> = mountinfo::parse(mountinfo)
        .into_iter()
        .filter(|m| m.is_cgroup_v1() || m.is_cgroup_v2())
        .collect();
    let own = proc_cgroup::parse(own);
    let mut dirs = Vec::new();
    for entry in proc_cgroup::parse(target) {
        if own.contains(&entry) {
            continue;
        }
        if let Some(mount) = mounts.iter().find(|m| entry.belongs_to(m))
            && let Ok(relative) = Path::new(&entry.path).strip_prefix(&mount.root)
        {
            dirs.push(mount.mount_point.join(relative));
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn the_box_is_where_the_target_differs_from_the_daemon() {
        let own = "9:name=systemd:/\n8:pids:/d\n4:memory:/d\n1:cpu,cpuacct:/d\n0::/\n";
        let target = "9:name=systemd:/\n8:pids:/d/stockade/web.0\n4:memory:/d/stockade/web.0\n1:cpu,cpuacct:/d/stockade/web.0\n0::/\n";
        assert_eq!(
            box_dirs(MOUNTINFO, own, target),
            [
                "/sys/fs/cgroup/pids/d/stockade/web.0",
                "/sys/fs/cgroup/memory/d/stockade/web.0",
                "/sys/fs/cgroup/cpu,cpuacct/d/stockade/web.0",
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn v2_boxes_resolve_through_the_cgroup2_mount() {
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            box_dirs(v2, "0::/daemon\n", "0::/daemon/stockade/job.7\n"),
            [PathBuf::from("/sys/fs/cgroup/daemon/stockade/job.7")]
        );
    }
}
