//! `/proc/<pid>/mountinfo`, one [`Mount`] per line (proc(5)):
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2) (3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)
//! ```
//!
//! Field 7 is zero or more optional fields (`shared:N`, `master:N`, ...)
//! ended by the `-` separator; paths escape space, tab, newline and
//! backslash as `\ooo` octal, which [`unescape`] decodes.

use std::path::{Path, PathBuf};

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mount's id (field 1).
    pub id: u32,
    /// Its parent's id (field 2).
    pub parent: u32,
    /// `major:minor` of the device (field 3).
    pub device: String,
    /// The directory of the filesystem that is the mount's root (field 4),
    /// e.g. a container's own cgroup.
    pub root: String,
    /// Where it is mounted (field 5).
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,relatime`, field 6).
    pub mount_options: String,
    /// Optional fields before the `-` (`shared:1`, `master:2`).
    pub optional_fields: Vec<String>,
    /// The filesystem type (`cgroup`, `cgroup2`, `ext4`).
    pub fstype: String,
    /// The mount source (`/dev/sda1`, `cgroup`).
    pub source: String,
    /// Per-superblock options (`rw,memory`, `rw,nsdelegate`).
    pub super_options: String,
}

/// v1 controller names; anything else in a v1 mount's super options is a
/// flag (`rw`, `xattr`, `noprefix`) or a named hierarchy (`name=systemd`).
pub const V1_CONTROLLERS: [&str; 14] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "blkio",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

impl Mount {
    /// The super options one by one.
    pub fn super_options(&self) -> impl Iterator<Item = &str> {
        self.super_options.split(',').filter(|o| !o.is_empty())
    }

    /// The per-mount options one by one.
    pub fn mount_options(&self) -> impl Iterator<Item = &str> {
        self.mount_options.split(',').filter(|o| !o.is_empty())
    }

    /// A cgroup v1 hierarchy (`cgroup`).
    pub fn is_cgroup_v1(&self) -> bool {
        self.fstype == "cgroup"
    }

    /// The cgroup2 hierarchy.
    pub fn is_cgroup_v2(&self) -> bool {
        self.fstype == "cgroup2"
    }

    /// The v1 controllers this mount carries (its super options that are
    /// controller names); empty for anything else.
    pub fn v1_controllers(&self) -> Vec<String> {
        if !self.is_cgroup_v1() {
            return Vec::new();
        }
        self.super_options().filter(|o| V1_CONTROLLERS.contains(o)).map(str::to_string).collect()
    }

    /// The directory under `mount_point` of the cgroup (or file) whose path
    /// in the filesystem is `path`: the mount's `root` is stripped first, as
    /// inside a container whose cgroup mount is rooted at its own cgroup,
    /// which `/proc/self/cgroup` repeats.
    pub fn dir_of(&self, path: &str) -> PathBuf {
        join_inside(&self.mount_point, &self.root, path)
    }
}

/// `point` + (`path` relative to `root`).
pub fn join_inside(point: &Path, root: &str, path: &str) -> PathBuf {
    let relative = if root != "/" { path.strip_prefix(root).unwrap_or(path) } else { path };
    let relative = relative.trim_start_matches('/');
    if relative.is_empty() { point.to_path_buf() } else { point.join(relative) }
}

/// Every line of `text` that has the mountinfo shape; others are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

/// One mountinfo line; `None` when it does not have the shape.
pub fn parse_line(line: &str) -> Option<Mount> {
    let (head, tail) = line.split_once(" - ")?;
    let mut head = head.split(' ').filter(|f| !f.is_empty());
    let id = head.next()?.parse().ok()?;
    let parent = head.next()?.parse().ok()?;
    let device = head.next()?.to_string();
    let root = unescape(head.next()?);
    let mount_point = PathBuf::from(unescape(head.next()?));
    let mount_options = head.next()?.to_string();
    let optional_fields = head.map(str::to_string).collect();
    let mut tail = tail.split(' ').filter(|f| !f.is_empty());
    let fstype = tail.next()?.to_string();
    let source = unescape(tail.next().unwrap_or(""));
    let super_options = tail.next().unwrap_or("").to_string();
    Some(Mount {
        id,
        parent,
        device,
        root,
        mount_point,
        mount_options,
        optional_fields,
        fstype,
        source,
        super_options,
    })
}

/// Decode the `\ooo` octal escapes mountinfo writes for space (`\040`),
/// tab (`\011`), newline (`\012`) and backslash (`\134`). A backslash not
/// followed by three octal digits stays as it is.
pub fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_string();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = (bytes[i] == b'\\')
            .then(|| field.get(i + 1..i + 4))
            .flatten()
            .filter(|octal| octal.bytes().all(|b| (b'0'..=b'7').contains(&b)))
            .and_then(|octal| u8::from_str_radix(octal, 8).ok());
        match code {
            Some(code) => {
                out.push(code);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This project's host: v1 per-controller hierarchies, cgroup2 at `unified`.
    const HYBRID: &str = "\
23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:13 - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime shared:17 - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:18 - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:19 - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn every_field_of_a_line_with_optional_fields() {
        let m = parse_line(
            "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:4 - ext3 /dev/root rw,errors=continue",
        )
        .unwrap();
        assert_eq!(m.id, 36);
        assert_eq!(m.parent, 35);
        assert_eq!(m.device, "98:0");
        assert_eq!(m.root, "/mnt1");
        assert_eq!(m.mount_point, PathBuf::from("/mnt2"));
        assert_eq!(m.mount_options().collect::<Vec<_>>(), ["rw", "noatime"]);
        assert_eq!(m.optional_fields, ["master:1", "shared:4"]);
        assert_eq!(m.fstype, "ext3");
        assert_eq!(m.source, "/dev/root");
        assert_eq!(m.super_options().collect::<Vec<_>>(), ["rw", "errors=continue"]);
    }

    #[test]
    fn a_line_without_optional_fields() {
        let m = parse_line("50 23 0:40 / /proc rw - proc proc rw").unwrap();
        assert!(m.optional_fields.is_empty());
        assert_eq!(m.fstype, "proc");
    }

    #[test]
    fn escaped_paths_are_decoded() {
        let m = parse_line(
            "2 0 0:2 /a\\040b /my\\040root\\011tab\\134slash\\012nl rw - cgroup2 cgroup2 rw",
        )
        .unwrap();
        assert_eq!(m.root, "/a b");
        assert_eq!(m.mount_point, PathBuf::from("/my root\ttab\\slash\nnl"));
        assert_eq!(unescape("no\\escape\\9zz"), "no\\escape\\9zz");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
    }

    #[test]
    fn the_v1_hybrid_layout() {
        let mounts = parse(HYBRID);
        assert_eq!(mounts.len(), 7);
        let v1: Vec<(String, Vec<String>)> = mounts
            .iter()
            .filter(|m| m.is_cgroup_v1())
            .map(|m| (m.mount_point.display().to_string(), m.v1_controllers()))
            .collect();
        assert_eq!(
            v1,
            [
                ("/sys/fs/cgroup/cpu".to_string(), vec!["cpu".to_string()]),
                ("/sys/fs/cgroup/memory".into(), vec!["memory".into()]),
                ("/sys/fs/cgroup/pids".into(), vec!["pids".into()]),
                ("/sys/fs/cgroup/systemd".into(), vec![]),
            ]
        );
        let v2: Vec<&Mount> = mounts.iter().filter(|m| m.is_cgroup_v2()).collect();
        assert_eq!(v2.len(), 1);
        assert_eq!(v2[0].mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert!(v2[0].v1_controllers().is_empty());
    }

    #[test]
    fn the_pure_v2_layout() {
        let text = "\
25 1 0:23 / /sys rw shared:7 - sysfs sysfs rw
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
        let mounts = parse(text);
        let cgroups: Vec<&Mount> = mounts.iter().filter(|m| m.is_cgroup_v2()).collect();
        assert_eq!(cgroups.len(), 1);
        assert_eq!(cgroups[0].mount_point, PathBuf::from("/sys/fs/cgroup"));
        assert!(cgroups[0].super_options().any(|o| o == "nsdelegate"));
        assert!(!mounts.iter().any(Mount::is_cgroup_v1));
    }

    #[test]
    fn container_roots_are_stripped() {
        let m = parse_line("1 0 0:1 /docker/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory")
            .unwrap();
        assert_eq!(m.dir_of("/docker/x/inner"), PathBuf::from("/sys/fs/cgroup/memory/inner"));
        assert_eq!(m.dir_of("/docker/x"), PathBuf::from("/sys/fs/cgroup/memory"));
        let top = parse_line("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw").unwrap();
        assert_eq!(top.dir_of("/"), PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(top.dir_of("/a/b"), PathBuf::from("/sys/fs/cgroup/a/b"));
    }

    #[test]
    fn garbage_is_skipped_not_a_panic() {
        assert_eq!(parse("not mountinfo\n\n1 2\nx y 0:1 / /p rw - t s o\n"), vec![]);
        assert!(parse_line("1 0 0:1 / /p rw -").is_none());
    }
}
