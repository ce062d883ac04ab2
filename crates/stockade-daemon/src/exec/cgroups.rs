//! Which cgroup directories a process's box is: the hierarchies where the
//! process sits elsewhere than the daemon, resolved to paths through
//! `/proc/self/mountinfo` (v1 per-controller mounts and the v2 mount alike).

use std::path::{Path, PathBuf};

/// One cgroup hierarchy mounted on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CgroupMount {
    /// v1 controllers (and `name=…`) from the super options; empty for v2.
    controllers: Vec<String>,
    /// The mount's root inside its hierarchy (usually `/`).
    root: String,
    /// Where it is mounted.
    point: PathBuf,
}

/// The cgroup directories of the process whose `/proc/PID/cgroup` is
/// `target`, in every hierarchy where it differs from the daemon's own
/// (`own`): exactly the box's cgroups, never the daemon's.
pub fn box_dirs(mountinfo: &str, own: &str, target: &str) -> Vec<PathBuf> {
    let mounts = mounts(mountinfo);
    let own: Vec<(&str, &str)> = own.lines().filter_map(entry).collect();
    let mut dirs = Vec::new();
    for (controllers, path) in target.lines().filter_map(entry) {
        if own.iter().any(|(c, p)| *c == controllers && *p == path) {
            continue;
        }
        let wanted: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
        let mount = mounts.iter().find(|m| {
            if wanted.is_empty() {
                m.controllers.is_empty()
            } else {
                wanted.iter().all(|w| m.controllers.iter().any(|c| c == w))
            }
        });
        if let Some(m) = mount
            && let Some(relative) = Path::new(path).strip_prefix(&m.root).ok()
        {
            dirs.push(m.point.join(relative));
        }
    }
    dirs
}

/// `ID:CONTROLLERS:PATH` → (controllers, path).
fn entry(line: &str) -> Option<(&str, &str)> {
    let mut parts = line.splitn(3, ':');
    let _id = parts.next()?;
    Some((parts.next()?, parts.next()?))
}

fn mounts(mountinfo: &str) -> Vec<CgroupMount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let (root, point) = (*left.get(3)?, *left.get(4)?);
            let controllers = match *right.first()? {
                "cgroup2" => Vec::new(),
                "cgroup" => right
                    .get(2)?
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro") && !o.contains("xattr") && *o != "noprefix"
                    })
                    .map(str::to_owned)
                    .collect(),
                _ => return None,
            };
            Some(CgroupMount { controllers, root: root.to_owned(), point: PathBuf::from(point) })
        })
        .collect()
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
