//! Finding the cgroup layout: which cgroup mounts exist under the configured
//! root (from `<proc>/self/mountinfo`), which controllers each has, and where
//! the daemon itself sits in each (from `<proc>/self/cgroup`). The daemon's
//! path differs per hierarchy on hybrid hosts (memory under
//! `/process_api/<id>`, the rest at `/`), so it is never assumed.

use std::path::{Path, PathBuf};

use stockade_linux::{mountinfo, proc_cgroup};

use crate::SandboxError;
use crate::backend::file;

/// One mounted cgroup hierarchy and the daemon's place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    /// v1: the controllers mounted here (`memory`, `cpu`, `cpuacct`, ...);
    /// v2: the controllers listed in the daemon cgroup's `cgroup.controllers`.
    pub(crate) controllers: Vec<String>,
    /// The daemon's own cgroup directory in this hierarchy.
    pub(crate) own_dir: PathBuf,
}

impl Hierarchy {
    /// True if `controller` is in this hierarchy.
    pub(crate) fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// What was found under the cgroup root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The cgroup2 mount, if any.
    pub(crate) v2: Option<Hierarchy>,
    /// The v1 hierarchies, named ones (`name=systemd`) excluded.
    pub(crate) v1: Vec<Hierarchy>,
}

/// This process's own cgroup directory in the hierarchy holding `controller`
/// (`""`: the cgroup2 hierarchy), found as the sandbox finds it — from
/// mountinfo and `/proc/self/cgroup`, never by assuming a path. Tests and
/// benchmarks use it to look at the boxes a sandbox made.
pub fn own_cgroup_dir(controller: &str) -> Option<PathBuf> {
    let layout = detect(Path::new("/sys/fs/cgroup"), Path::new("/proc")).ok()?;
    if controller.is_empty() {
        return layout.v2.map(|h| h.own_dir);
    }
    layout.v1.into_iter().find(|h| h.has(controller)).map(|h| h.own_dir)
}

/// This process's own cgroup directory in every hierarchy it is in (each v1
/// controller hierarchy, then the cgroup2 tree), found the same way.
pub fn own_cgroup_dirs() -> Vec<PathBuf> {
    let Ok(layout) = detect(Path::new("/sys/fs/cgroup"), Path::new("/proc")) else {
        return Vec::new();
    };
    layout.v1.into_iter().chain(layout.v2).map(|h| h.own_dir).collect()
}

/// Read the layout from `proc_root` for mounts under `cgroup_root`.
pub(crate) fn detect(cgroup_root: &Path, proc_root: &Path) -> Result<Layout, SandboxError> {
    let mountinfo = file::read(&proc_root.join("self/mountinfo"))?;
    let own = proc_cgroup::parse(&file::read(&proc_root.join("self/cgroup"))?);
    let mut layout = Layout::default();
    for mount in mountinfo::parse(&mountinfo) {
        if !mount.mount_point.starts_with(cgroup_root) {
            continue;
        }
        if mount.is_cgroup_v2() {
            let Some(path) = proc_cgroup::path_in(&own, &mount) else { continue };
            let own_dir = mount.dir_of(path);
            let controllers = std::fs::read_to_string(own_dir.join("cgroup.controllers"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            layout.v2 = Some(Hierarchy { controllers, own_dir });
        } else if mount.is_cgroup_v1() {
            let controllers = mount.v1_controllers();
            if controllers.is_empty() {
                continue;
            }
            let Some(path) = proc_cgroup::path_in(&own, &mount) else { continue };
            let own_dir = mount.dir_of(path);
            layout.v1.push(Hierarchy { controllers, own_dir });
        }
    }
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /proc rw - proc proc rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
6:freezer:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
";

    fn fake_proc(mountinfo: &str, cgroup: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("self")).unwrap();
        std::fs::write(dir.path().join("self/mountinfo"), mountinfo).unwrap();
        std::fs::write(dir.path().join("self/cgroup"), cgroup).unwrap();
        dir
    }

    #[test]
    fn hybrid_layout_has_per_controller_own_paths() {
        let proc = fake_proc(HYBRID_MOUNTINFO, HYBRID_CGROUP);
        let layout = detect(Path::new("/sys/fs/cgroup"), proc.path()).unwrap();
        let dirs: Vec<(String, PathBuf)> =
            layout.v1.iter().map(|h| (h.controllers.join(","), h.own_dir.clone())).collect();
        assert_eq!(
            dirs,
            vec![
                ("cpu".into(), "/sys/fs/cgroup/cpu".into()),
                ("cpuacct".into(), "/sys/fs/cgroup/cpuacct".into()),
                ("memory".into(), "/sys/fs/cgroup/memory/process_api/abc".into()),
                ("freezer".into(), "/sys/fs/cgroup/freezer".into()),
                ("pids".into(), "/sys/fs/cgroup/pids".into()),
            ]
        );
        let v2 = layout.v2.unwrap();
        assert_eq!(v2.own_dir, PathBuf::from("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn comounted_cpu_cpuacct_and_container_roots() {
        let mountinfo = "\
1 0 0:1 /docker/x /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
2 0 0:2 /docker/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let cgroup = "4:memory:/docker/x/inner\n3:cpuacct,cpu:/docker/x\n";
        let proc = fake_proc(mountinfo, cgroup);
        let layout = detect(Path::new("/sys/fs/cgroup"), proc.path()).unwrap();
        assert_eq!(layout.v1[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(layout.v1[0].own_dir, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(layout.v1[1].own_dir, PathBuf::from("/sys/fs/cgroup/memory/inner"));
    }

    #[test]
    fn mounts_outside_the_root_are_ignored_and_escapes_decoded() {
        let mountinfo = "1 0 0:1 / /elsewhere rw - cgroup2 cgroup2 rw\n2 0 0:2 / /my\\040root rw - cgroup2 cgroup2 rw\n";
        let proc = fake_proc(mountinfo, "0::/\n");
        let layout = detect(Path::new("/my root"), proc.path()).unwrap();
        assert_eq!(layout.v2.unwrap().own_dir, PathBuf::from("/my root"));
        assert!(layout.v1.is_empty());
    }

    #[test]
    fn a_missing_proc_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = detect(Path::new("/sys/fs/cgroup"), dir.path()).unwrap_err().to_string();
        assert!(err.contains("self/mountinfo"), "{err}");
    }
}
