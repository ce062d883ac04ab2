//! Finding the cgroup layout: which cgroup mounts exist under the configured
//! root (from `<proc>/self/mountinfo`), which controllers each has, and where
//! the daemon itself sits in each (from `<proc>/self/cgroup`). The daemon's
//! path differs per hierarchy on hybrid hosts (memory under
//! `/process_api/<id>`, the rest at `/`), so it is never assumed.

use std::path::{Path, PathBuf};

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
    let own = file::read(&proc_root.join("self/cgroup"))?;
    let mut layout = Layout::default();
    for mount in mountinfo.lines().filter_map(parse_mount) {
        if !mount.point.starts_with(cgroup_root) {
            continue;
        }
        if mount.fstype == "cgroup2" {
            let Some(path) = own_path(&own, None) else { continue };
            let own_dir = join_inside(&mount.point, mount.root, &path);
            let controllers = std::fs::read_to_string(own_dir.join("cgroup.controllers"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            layout.v2 = Some(Hierarchy { controllers, own_dir });
        } else if mount.fstype == "cgroup" {
            let controllers: Vec<String> = mount
                .super_options
                .split(',')
                .filter(|o| {
                    matches!(
                        *o,
                        "memory"
                            | "pids"
                            | "cpu"
                            | "cpuacct"
                            | "freezer"
                            | "cpuset"
                            | "blkio"
                            | "devices"
                    )
                })
                .map(str::to_string)
                .collect();
            if controllers.is_empty() {
                continue;
            }
            let Some(path) = own_path(&own, Some(&controllers)) else { continue };
            let own_dir = join_inside(&mount.point, mount.root, &path);
            layout.v1.push(Hierarchy { controllers, own_dir });
        }
    }
    Ok(layout)
}

struct Mount<'a> {
    root: &'a str,
    point: PathBuf,
    fstype: &'a str,
    super_options: &'a str,
}

/// One mountinfo line: `id parent maj:min root point opts [tags] - fstype source superopts`.
fn parse_mount(line: &str) -> Option<Mount<'_>> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split_whitespace().collect();
    let mut right = right.split_whitespace();
    Some(Mount {
        root: fields.get(3)?,
        point: PathBuf::from(unescape(fields.get(4)?)),
        fstype: right.next()?,
        super_options: right.nth(1).unwrap_or(""),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// The daemon's path in the hierarchy with these controllers (`None` = v2's `0::` line).
fn own_path(text: &str, controllers: Option<&[String]>) -> Option<String> {
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (id, list, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controllers {
            None => id == "0" && list.is_empty(),
            Some(wanted) => {
                let have: Vec<&str> = list.split(',').collect();
                !list.is_empty() && wanted.iter().all(|c| have.contains(&c.as_str()))
            }
        };
        matches.then(|| path.to_string())
    })
}

/// `point` + (`path` relative to the mount's `root`). Inside a container the
/// mount root can be the container's own cgroup, which `/proc/self/cgroup` repeats.
fn join_inside(point: &Path, root: &str, path: &str) -> PathBuf {
    let relative = if root != "/" { path.strip_prefix(root).unwrap_or(path) } else { path };
    let relative = relative.trim_start_matches('/');
    if relative.is_empty() { point.to_path_buf() } else { point.join(relative) }
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
