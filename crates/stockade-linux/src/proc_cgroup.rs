//! `/proc/<pid>/cgroup`: one [`CgroupEntry`] per hierarchy the process is in,
//! `ID:CONTROLLERS:PATH` — `4:memory:/process_api/x` for a v1 hierarchy,
//! `9:name=systemd:/` for a named one, `0::/` for cgroup2. On a hybrid host
//! the path differs per hierarchy, so it is looked up per mount
//! ([`CgroupEntry::belongs_to`]), never assumed.

use crate::Mount;

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupEntry {
    /// The hierarchy id (0 for cgroup2).
    pub id: u32,
    /// The controllers (and `name=…`) of a v1 hierarchy; empty for cgroup2.
    pub controllers: Vec<String>,
    /// The process's cgroup in that hierarchy, from its root (`/a/b`).
    pub path: String,
}

impl CgroupEntry {
    /// The cgroup2 line (`0::/path`).
    pub fn is_v2(&self) -> bool {
        self.id == 0 && self.controllers.is_empty()
    }

    /// Whether this line is for the hierarchy mounted at `mount`: the cgroup2
    /// line for a `cgroup2` mount; for a `cgroup` mount, a line whose every
    /// controller (or `name=`) is among the mount's super options.
    pub fn belongs_to(&self, mount: &Mount) -> bool {
        if mount.is_cgroup_v2() {
            return self.is_v2();
        }
        mount.is_cgroup_v1()
            && !self.controllers.is_empty()
            && self.controllers.iter().all(|c| mount.super_options().any(|o| o == c))
    }
}

/// Every well-formed line of `text`.
pub fn parse(text: &str) -> Vec<CgroupEntry> {
    text.lines().filter_map(parse_line).collect()
}

/// `ID:CONTROLLERS:PATH`; the path may itself hold `:`.
pub fn parse_line(line: &str) -> Option<CgroupEntry> {
    let mut parts = line.splitn(3, ':');
    let id = parts.next()?.trim().parse().ok()?;
    let list = parts.next()?;
    let path = parts.next()?.to_string();
    let controllers = list.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
    Some(CgroupEntry { id, controllers, path })
}

/// The path of the entry that belongs to `mount`.
pub fn path_in<'a>(entries: &'a [CgroupEntry], mount: &Mount) -> Option<&'a str> {
    entries.iter().find(|e| e.belongs_to(mount)).map(|e| e.path.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo;

    const HYBRID_SELF: &str =
        "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/07cd\n1:cpu,cpuacct:/d\n0::/\n";

    #[test]
    fn lines_parse_with_controllers_and_colons_in_paths() {
        let entries = parse(HYBRID_SELF);
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[3].controllers, ["cpu", "cpuacct"]);
        assert_eq!(entries[3].path, "/d");
        assert!(entries[4].is_v2());
        assert!(!entries[0].is_v2());
        assert_eq!(parse_line("0::/odd:name").unwrap().path, "/odd:name");
        assert_eq!(parse_line("garbage"), None);
        assert_eq!(parse_line("x:memory:/"), None);
    }

    #[test]
    fn each_line_finds_its_mount() {
        let mounts = mountinfo::parse(
            "\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
50 23 0:40 / /proc rw - proc proc rw
",
        );
        let entries = parse(HYBRID_SELF);
        let found: Vec<Option<&str>> = mounts.iter().map(|m| path_in(&entries, m)).collect();
        assert_eq!(found, [Some("/d"), Some("/process_api/07cd"), Some("/"), Some("/"), None]);
    }
}
