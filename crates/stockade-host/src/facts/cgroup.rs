//! The cgroup layout from `/proc/self/mountinfo`, `/proc/self/cgroup` and the
//! hierarchies themselves: which mode (v2, v1 hybrid, v1 only, none), which
//! controllers each hierarchy has, its mount options, and whether the
//! daemon's own cgroup directory is writable (where boxes will be made).
//!
//! Mount points in mountinfo are absolute (`/sys/fs/cgroup/memory`); they are
//! re-rooted onto [`HostRoot::sys`] so a fixture tree stands in for sysfs.

use crate::HostRoot;
use crate::probe::{Probe, Unknown, read_text};
use std::path::{Path, PathBuf};
use stockade_linux::{CgroupEntry, Mount, mountinfo, proc_cgroup};

/// The controllers a box needs: memory and pids limits, cpu quota.
pub const REQUIRED_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

/// How cgroups are mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupMode {
    /// cgroup v2 at `/sys/fs/cgroup`: one hierarchy, every controller.
    Unified,
    /// v1 controller hierarchies plus a v2 mount beside them (usually with few
    /// or no controllers): resource control goes through v1.
    Hybrid,
    /// v1 controller hierarchies only.
    Legacy,
    /// No cgroup filesystem is mounted.
    None,
}

impl CgroupMode {
    /// How `stockade doctor` names the mode.
    pub fn describe(self) -> &'static str {
        match self {
            CgroupMode::Unified => "cgroup v2 (unified)",
            CgroupMode::Hybrid => "cgroup v1 (hybrid: v1 controllers beside a v2 mount)",
            CgroupMode::Legacy => "cgroup v1 (legacy)",
            CgroupMode::None => "none (no cgroup filesystem mounted)",
        }
    }
}

/// The cgroup filesystem version of one hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// `cgroup` (one hierarchy per controller or group of controllers).
    V1,
    /// `cgroup2`.
    V2,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// v1 or v2.
    pub version: CgroupVersion,
    /// Where it is mounted, as on the host (`/sys/fs/cgroup/memory`).
    pub mount_point: PathBuf,
    /// The controllers it carries (v1: from the mount options; v2: `cgroup.controllers`).
    pub controllers: Vec<String>,
    /// The superblock options (`rw,memory`, `rw,nsdelegate,favordynmods`).
    pub options: Vec<String>,
    /// The daemon's own cgroup in this hierarchy, from `/proc/self/cgroup`.
    pub own_path: Option<String>,
    /// Whether the daemon may create cgroups in its own directory; `Err` says why not.
    pub writable: Result<(), String>,
}

impl Hierarchy {
    /// True when the mount has `favordynmods`, which spares each migration an
    /// RCU grace period (see the `cgroup_mount_options` check).
    pub fn favors_dynmods(&self) -> bool {
        self.options.iter().any(|o| o == "favordynmods")
    }
}

/// Everything the doctor knows about cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupFacts {
    /// The layout.
    pub mode: CgroupMode,
    /// Every mounted hierarchy, v1 and v2.
    pub hierarchies: Vec<Hierarchy>,
}

impl CgroupFacts {
    /// The hierarchy that carries `controller` (the kernel binds each
    /// controller to at most one).
    pub fn provider(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.controllers.iter().any(|c| c == controller))
    }
}

/// Read the layout through `root`.
pub fn read_cgroup(root: &HostRoot) -> Probe<CgroupFacts> {
    let mountinfo = read_text(root, &root.proc.join("self/mountinfo"))?;
    // Without /proc/self/cgroup writability is judged on the hierarchy root.
    let own = read_text(root, &root.proc.join("self/cgroup")).unwrap_or_default();
    let mounts: Vec<Mount> = mountinfo::parse(&mountinfo)
        .into_iter()
        .filter(|m| m.is_cgroup_v1() || m.is_cgroup_v2())
        .collect();
    if mounts.is_empty() && !mountinfo.trim().is_empty() && !mountinfo.contains(" - ") {
        return Err(Unknown::new(
            root.display(&root.proc.join("self/mountinfo")),
            "not in mountinfo format",
        ));
    }
    let own = proc_cgroup::parse(&own);
    let hierarchies = mounts.iter().map(|m| hierarchy(root, m, &own)).collect::<Vec<_>>();
    let mode = mode_of(&hierarchies);
    Ok(CgroupFacts { mode, hierarchies })
}

fn mode_of(hierarchies: &[Hierarchy]) -> CgroupMode {
    let v2_at_top = hierarchies
        .iter()
        .any(|h| h.version == CgroupVersion::V2 && h.mount_point == Path::new("/sys/fs/cgroup"));
    let v1 =
        hierarchies.iter().any(|h| h.version == CgroupVersion::V1 && !h.controllers.is_empty());
    let v2 = hierarchies.iter().any(|h| h.version == CgroupVersion::V2);
    match (v2_at_top, v1, v2) {
        (true, _, _) => CgroupMode::Unified,
        (false, true, true) => CgroupMode::Hybrid,
        (false, true, false) => CgroupMode::Legacy,
        (false, false, true) => CgroupMode::Unified,
        (false, false, false) => CgroupMode::None,
    }
}

fn hierarchy(root: &HostRoot, mount: &Mount, own_cgroups: &[CgroupEntry]) -> Hierarchy {
    let dir = rebase(root, &mount.mount_point);
    let own_path = proc_cgroup::path_in(own_cgroups, mount).map(str::to_string);
    let own_dir = match &own_path {
        Some(own) => mountinfo::join_inside(&dir, &mount.root, own),
        None => dir.clone(),
    };
    let version = if mount.is_cgroup_v2() { CgroupVersion::V2 } else { CgroupVersion::V1 };
    let controllers = match version {
        CgroupVersion::V1 => mount.v1_controllers(),
        CgroupVersion::V2 => {
            // The root lists what the kernel has; the own directory what is
            // enabled for us. Prefer the latter when it exists.
            let own = std::fs::read_to_string(own_dir.join("cgroup.controllers"));
            let top = std::fs::read_to_string(dir.join("cgroup.controllers"));
            own.or(top)
                .map(|t| t.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        }
    };
    let writable = rustix::fs::access(&own_dir, rustix::fs::Access::WRITE_OK)
        .map_err(|e| format!("{}: {}", root.display(&own_dir), e));
    Hierarchy {
        version,
        mount_point: mount.mount_point.clone(),
        controllers,
        options: mount.super_options.split(',').map(str::to_string).collect(),
        own_path,
        writable,
    }
}

/// Map an absolute host path under `/sys` onto the (possibly fixture) sys root.
fn rebase(root: &HostRoot, path: &Path) -> PathBuf {
    match path.strip_prefix("/sys") {
        Ok(rest) => root.sys.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This project's host: v1 per-controller hierarchies, cgroup2 at `unified`.
    pub(crate) const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str =
        "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/07cd\n1:cpu:/\n0::/\n";

    fn tree(mountinfo: &str, own: &str) -> (tempfile::TempDir, HostRoot) {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::under(dir.path());
        std::fs::create_dir_all(root.proc.join("self")).unwrap();
        std::fs::write(root.proc.join("self/mountinfo"), mountinfo).unwrap();
        std::fs::write(root.proc.join("self/cgroup"), own).unwrap();
        (dir, root)
    }

    #[test]
    fn this_hosts_layout_is_hybrid_with_v1_controllers() {
        let (_dir, root) = tree(HYBRID_MOUNTINFO, HYBRID_SELF);
        for d in ["cpu", "pids", "memory/process_api/07cd", "unified"] {
            std::fs::create_dir_all(root.sys.join("fs/cgroup").join(d)).unwrap();
        }
        std::fs::write(root.sys.join("fs/cgroup/unified/cgroup.controllers"), "hugetlb\n").unwrap();
        let facts = read_cgroup(&root).unwrap();
        assert_eq!(facts.mode, CgroupMode::Hybrid);
        let memory = facts.provider("memory").unwrap();
        assert_eq!(memory.version, CgroupVersion::V1);
        assert_eq!(memory.own_path.as_deref(), Some("/process_api/07cd"));
        assert_eq!(memory.writable, Ok(()));
        assert_eq!(facts.provider("hugetlb").unwrap().version, CgroupVersion::V2);
        assert!(facts.provider("cpuset").is_none());
        assert!(!memory.favors_dynmods());
    }

    #[test]
    fn a_missing_own_directory_is_not_writable_and_says_where() {
        let (_dir, root) = tree(HYBRID_MOUNTINFO, HYBRID_SELF);
        let facts = read_cgroup(&root).unwrap();
        let err = facts.provider("memory").unwrap().writable.clone().unwrap_err();
        assert!(err.contains("/sys/fs/cgroup/memory/process_api/07cd"), "{err}");
    }

    #[test]
    fn v2_at_the_top_is_unified_and_reads_controllers() {
        let (_dir, root) = tree(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,favordynmods\n",
            "0::/user.slice\n",
        );
        std::fs::create_dir_all(root.sys.join("fs/cgroup/user.slice")).unwrap();
        std::fs::write(root.sys.join("fs/cgroup/cgroup.controllers"), "cpu io memory pids\n")
            .unwrap();
        std::fs::write(root.sys.join("fs/cgroup/user.slice/cgroup.controllers"), "memory pids\n")
            .unwrap();
        let facts = read_cgroup(&root).unwrap();
        assert_eq!(facts.mode, CgroupMode::Unified);
        let h = &facts.hierarchies[0];
        assert_eq!(h.controllers, ["memory", "pids"], "own directory's controllers win");
        assert!(h.favors_dynmods());
    }

    #[test]
    fn no_cgroup_mounts_is_none_and_unreadable_mountinfo_is_unknown() {
        let (_dir, root) = tree("22 1 0:5 / /proc rw - proc proc rw\n", "");
        assert_eq!(read_cgroup(&root).unwrap().mode, CgroupMode::None);
        let empty = tempfile::tempdir().unwrap();
        let err = read_cgroup(&HostRoot::under(empty.path())).unwrap_err();
        assert_eq!(err.what, "/proc/self/mountinfo");
    }

    #[test]
    fn the_real_host_reads() {
        let facts = read_cgroup(&HostRoot::default()).unwrap();
        eprintln!("mode on this host: {:?}", facts.mode);
        assert!(!facts.hierarchies.is_empty() || facts.mode == CgroupMode::None);
    }
}
