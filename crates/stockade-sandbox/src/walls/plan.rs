//! The box's root, as a list of mount operations built in the parent (every
//! path a ready C string) and run by the child in its own mount namespace.
//!
//! The shape: mount propagation private; the host's mounts (the namespace's
//! own copies) read-only and nosuid in one recursive `mount_setattr`; a
//! tmpfs over the *stage* (`/run`, which the box replaces anyway) becomes the
//! new root, assembled from host paths that stay reachable as they are (no
//! source may lie under the stage):
//!
//! - the top-level entries of the host root (or of `rootfs`) bound
//!   recursively (read-only, as their sources now are), symlinks
//!   (`/bin -> usr/bin`) recreated;
//! - a fresh `proc` for the pid namespace with `kcore`, `sysrq-trigger`,
//!   `keys`, `timer_list` masked by `/dev/null` and `sys`, `bus`, `fs`, `irq`
//!   read-only; `/sys` read-only with `/sys/fs/cgroup` covered by an empty
//!   read-only tmpfs (no cgroupfs is visible, so none can be written);
//! - `/dev`: a small tmpfs with null, zero, full, random, urandom and tty
//!   bound from the host, a new devpts instance, `/dev/ptmx`, `/dev/shm`;
//! - `/tmp` a tmpfs of `tmp_size`; `/run` an empty tmpfs (the host's sockets
//!   stay out — but a host `/etc/resolv.conf` that points into `/run`, as
//!   with systemd-resolved, has that one file bound read-only); `/workspace`
//!   the workspace (writable, nosuid);
//! - `mounts`, then `hide` (an empty read-only tmpfs over each);
//! - every host path bound in — the workspace, `mounts`, a `rootfs`'s
//!   entries — arrives as a detached tree the daemon made before the clone
//!   (`idmap::detached`), with its read-only/nosuid attributes already set:
//!   the box's mapped ids need not be able to walk the path to it (the
//!   workspace lives in the 0700 state dir);
//! - the stage remounted read-only, one `pivot_root(".", ".")` into it (it
//!   walks every task on the host, so once), and the old root detached in
//!   one lazy unmount (each pays an RCU grace period).

use std::ffi::{CStr, CString, OsString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use super::sys::{
    self, Errno, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};

/// Top-level names the box gets its own version of.
pub(crate) const REPLACED: [&str; 6] = ["proc", "sys", "dev", "tmp", "run", "workspace"];

/// What a top-level entry of a root tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootKind {
    Dir,
    File,
    Symlink(CString),
}

/// One top-level entry of a root tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RootEntry {
    pub(crate) name: OsString,
    pub(crate) kind: RootKind,
}

/// The top-level entries of `root` (the host's is listed once, at `Sandbox::new`).
pub(crate) fn root_entries(root: &Path) -> io::Result<Vec<RootEntry>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        if REPLACED.iter().any(|r| name.as_bytes() == r.as_bytes()) {
            continue;
        }
        let kind = match entry.file_type()? {
            t if t.is_symlink() => {
                let target = std::fs::read_link(entry.path())?;
                RootKind::Symlink(CString::new(target.into_os_string().into_vec())?)
            }
            t if t.is_dir() => RootKind::Dir,
            t if t.is_file() => RootKind::File,
            _ => continue,
        };
        out.push(RootEntry { name, kind });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One step of building the root.
#[derive(Debug)]
pub(crate) enum Op {
    Mkdir(CString),
    Touch(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: u64,
        data: Option<CString>,
    },
    SetAttr {
        path: CString,
        set: u64,
        clear: u64,
        recursive: bool,
    },
    Move {
        fd: RawFd,
        target: CString,
    },
    Chdir(CString),
    Pivot {
        new_root: CString,
        put_old: CString,
    },
    Detach(CString),
}

impl Op {
    /// The fd the step uses, if any (the child keeps it open until exec).
    pub(crate) fn fd(&self) -> Option<RawFd> {
        match self {
            Op::Move { fd, .. } => Some(*fd),
            _ => None,
        }
    }

    /// Run the step. Async-signal-safe.
    pub(crate) fn run(&self) -> Result<(), Errno> {
        match self {
            Op::Mkdir(p) => sys::mkdir(p, 0o755),
            Op::Touch(p) => sys::touch(p),
            Op::Symlink { target, link } => sys::symlink(target, link),
            Op::Mount { source, target, fstype, flags, data } => {
                sys::mount(source.as_deref(), target, fstype.as_deref(), *flags, data.as_deref())
            }
            Op::SetAttr { path, set, clear, recursive } => {
                let flags = if *recursive { libc::AT_RECURSIVE as u32 } else { 0 };
                sys::mount_setattr(libc::AT_FDCWD, path, flags, *set, *clear, None)
            }
            Op::Move { fd, target } => sys::move_mount(*fd, target),
            Op::Chdir(p) => sys::chdir(p),
            Op::Pivot { new_root, put_old } => sys::pivot_root(new_root, put_old),
            Op::Detach(p) => sys::umount_detach(p),
        }
    }

    /// What the step does, for an error message.
    pub(crate) fn describe(&self) -> String {
        let s = |c: &CStr| c.to_string_lossy().into_owned();
        match self {
            Op::Mkdir(p) => format!("mkdir {}", s(p)),
            Op::Touch(p) => format!("create {}", s(p)),
            Op::Symlink { target, link } => format!("symlink {} -> {}", s(link), s(target)),
            Op::Mount { source, target, fstype, .. } => format!(
                "mount {} on {}{}",
                source.as_deref().map_or("(none)".into(), s),
                s(target),
                fstype.as_deref().map_or(String::new(), |t| format!(" ({})", s(t)))
            ),
            Op::SetAttr { path, set, .. } if set & MOUNT_ATTR_RDONLY != 0 => {
                format!("make {} read-only", s(path))
            }
            Op::SetAttr { path, .. } => format!("make {} writable, nosuid", s(path)),
            Op::Move { target, .. } => format!("attach the daemon's tree at {}", s(target)),
            Op::Chdir(p) => format!("chdir {}", s(p)),
            Op::Pivot { new_root, .. } => format!("pivot_root into {}", s(new_root)),
            Op::Detach(p) => format!("detach {}", s(p)),
        }
    }
}

/// Where a host path bound into the box comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// The detached tree the daemon made of it (read-only, writable, or
    /// idmapped where the host supports it), attached by the child.
    Tree(RawFd),
    /// Its host path, bound by the child itself: a rootless daemon cannot
    /// make detached trees (`open_tree` needs `CAP_SYS_ADMIN` over the host's
    /// mount namespace), but its box maps the daemon's own uid, so the
    /// child can walk every path the daemon can.
    Path {
        /// The host path.
        path: CString,
        /// Read-only (else writable, nosuid).
        read_only: bool,
    },
}

impl Source {
    /// A path source.
    pub(crate) fn path(path: &Path, read_only: bool) -> Source {
        Source::Path { path: c(path.as_os_str().as_bytes()), read_only }
    }

    /// The steps that put this source at `target` (which exists).
    fn attach(&self, target: CString, is_dir: bool, ops: &mut Vec<Op>) {
        match self {
            Source::Tree(fd) => ops.push(Op::Move { fd: *fd, target }),
            Source::Path { path, read_only } => {
                let flags = if is_dir { libc::MS_BIND | libc::MS_REC } else { libc::MS_BIND };
                ops.push(Op::Mount {
                    source: Some(path.clone()),
                    target: target.clone(),
                    fstype: None,
                    flags,
                    data: None,
                });
                // The bind starts read-only (the host's mounts were made so).
                let (set, clear) = if *read_only {
                    (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0)
                } else {
                    (MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY)
                };
                ops.push(Op::SetAttr { path: target, set, clear, recursive: is_dir });
            }
        }
    }
}

/// A writable or read-only bind, checked and ready.
#[derive(Debug)]
pub(crate) struct PlannedMount {
    pub(crate) target: PathBuf,
    pub(crate) is_dir: bool,
    /// Where `source` comes from.
    pub(crate) source: Source,
}

/// Everything the root depends on.
#[derive(Debug)]
pub(crate) struct RootSpec<'a> {
    /// `None` = the host root.
    pub(crate) rootfs: Option<&'a Path>,
    pub(crate) entries: &'a [RootEntry],
    pub(crate) tmp_size: u64,
    /// The workspace (writable).
    pub(crate) workspace: Source,
    /// With `rootfs`: the daemon's read-only tree of each entry (`None` for
    /// symlinks), in the order of `entries`; empty: each entry is bound from
    /// its path (read-only, as every host mount is by then).
    pub(crate) rootfs_trees: &'a [Option<RawFd>],
    pub(crate) mounts: &'a [PlannedMount],
    /// Already filtered to visible paths, with whether each is a directory.
    pub(crate) hide: &'a [(PathBuf, bool)],
    /// The host's `/etc/resolv.conf` target when it lies under `/run`
    /// (host root only).
    pub(crate) resolv_in_run: Option<&'a Path>,
    /// The host directory the new root is assembled on (covered only in
    /// the box's own mount namespace); no source may lie under it.
    pub(crate) stage: &'a Path,
}

fn c(bytes: impl Into<Vec<u8>>) -> CString {
    // Paths were checked for NUL bytes when the walls were resolved.
    CString::new(bytes).unwrap_or_default()
}

fn under(prefix: &str, path: &Path) -> CString {
    let mut bytes = prefix.as_bytes().to_vec();
    for comp in path.components() {
        if let Component::Normal(part) = comp {
            bytes.push(b'/');
            bytes.extend_from_slice(part.as_bytes());
        }
    }
    if bytes.is_empty() {
        bytes.push(b'/');
    }
    c(bytes)
}

/// The operations that build the box's root.
pub(crate) fn build(spec: &RootSpec<'_>) -> Vec<Op> {
    const BIND: u64 = libc::MS_BIND | libc::MS_REC;
    let mut ops = Vec::with_capacity(96);
    let stage = &*spec.stage.to_string_lossy();
    let n = |rel: &str| c(format!("{stage}{rel}"));
    let tmpfs = |target: CString, flags: u64, data: String| Op::Mount {
        source: Some(c("tmpfs")),
        target,
        fstype: Some(c("tmpfs")),
        flags: flags | libc::MS_NOSUID,
        data: Some(c(data)),
    };
    let bind = |source: CString, target: CString, flags: u64| Op::Mount {
        source: Some(source),
        target,
        fstype: None,
        flags,
        data: None,
    };
    let ro = |path: CString, extra: u64| Op::SetAttr {
        path,
        set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | extra,
        clear: 0,
        recursive: true,
    };
    ops.push(Op::Mount {
        source: None,
        target: c("/"),
        fstype: None,
        flags: libc::MS_REC | libc::MS_PRIVATE,
        data: None,
    });
    // The host's mounts (this namespace's copies) read-only and nosuid in
    // one recursive step, so every bind taken from them starts so.
    ops.push(ro(c("/"), 0));
    ops.push(tmpfs(n(""), libc::MS_NODEV, "mode=0755,size=1m".into()));

    let source_root = spec.rootfs.unwrap_or(Path::new("/"));
    for (i, entry) in spec.entries.iter().enumerate() {
        let name = Path::new(&entry.name);
        let target = under(stage, name);
        let source = under(&under("", source_root).to_string_lossy(), name);
        // A rootfs entry comes as the daemon's tree (the rootfs may lie where
        // the box's ids cannot walk); the host root's own entries are binds.
        let tree = spec.rootfs_trees.get(i).copied().flatten();
        match &entry.kind {
            RootKind::Dir => {
                ops.push(Op::Mkdir(target.clone()));
                ops.push(match tree {
                    Some(fd) => Op::Move { fd, target },
                    None => bind(source, target, BIND),
                });
            }
            RootKind::File => {
                ops.push(Op::Touch(target.clone()));
                ops.push(match tree {
                    Some(fd) => Op::Move { fd, target },
                    None => bind(source, target, libc::MS_BIND),
                });
            }
            RootKind::Symlink(to) => ops.push(Op::Symlink { target: to.clone(), link: target }),
        }
    }

    // proc: a fresh instance for the box's pid namespace, the risky parts masked.
    ops.push(Op::Mkdir(n("/proc")));
    ops.push(Op::Mount {
        source: Some(c("proc")),
        target: n("/proc"),
        fstype: Some(c("proc")),
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: None,
    });
    for masked in ["kcore", "sysrq-trigger", "keys", "timer_list"] {
        if Path::new("/proc").join(masked).exists() {
            ops.push(bind(c("/dev/null"), n(&format!("/proc/{masked}")), libc::MS_BIND));
        }
    }
    for read_only in ["sys", "bus", "fs", "irq"] {
        if Path::new("/proc").join(read_only).is_dir() {
            let path = n(&format!("/proc/{read_only}"));
            ops.push(bind(path.clone(), path.clone(), BIND));
            ops.push(ro(path, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
        }
    }

    // sys: the host's, read-only, without any cgroupfs.
    ops.push(Op::Mkdir(n("/sys")));
    ops.push(bind(c("/sys"), n("/sys"), BIND));
    ops.push(ro(n("/sys"), MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    if Path::new("/sys/fs/cgroup").is_dir() {
        ops.push(tmpfs(
            n("/sys/fs/cgroup"),
            libc::MS_RDONLY | libc::MS_NODEV | libc::MS_NOEXEC,
            "mode=0555,size=4k".into(),
        ));
    }

    // dev: a few safe nodes, a private devpts, shm.
    ops.push(Op::Mkdir(n("/dev")));
    ops.push(tmpfs(n("/dev"), libc::MS_NOEXEC, "mode=0755,size=64k".into()));
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = n(&format!("/dev/{node}"));
        ops.push(Op::Touch(target.clone()));
        ops.push(bind(c(format!("/dev/{node}")), target, libc::MS_BIND));
    }
    ops.push(Op::Mkdir(n("/dev/pts")));
    ops.push(Op::Mount {
        source: Some(c("devpts")),
        target: n("/dev/pts"),
        fstype: Some(c("devpts")),
        flags: libc::MS_NOSUID | libc::MS_NOEXEC,
        data: Some(c("newinstance,ptmxmode=0666,mode=0620")),
    });
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ops.push(Op::Symlink { target: c(to), link: n(&format!("/dev/{link}")) });
    }
    ops.push(Op::Mkdir(n("/dev/shm")));
    ops.push(tmpfs(n("/dev/shm"), libc::MS_NODEV, format!("mode=1777,size={}", spec.tmp_size)));

    ops.push(Op::Mkdir(n("/tmp")));
    ops.push(tmpfs(n("/tmp"), libc::MS_NODEV, format!("mode=1777,size={}", spec.tmp_size)));
    ops.push(Op::Mkdir(n("/run")));
    ops.push(tmpfs(n("/run"), libc::MS_NODEV, "mode=0755,size=1m".into()));
    if let Some(resolv) = spec.resolv_in_run {
        // The host's /etc/resolv.conf points into /run (systemd-resolved):
        // show that one file, read-only, so DNS works with the host network.
        let mut dir = PathBuf::from("/");
        let parent = resolv.parent().unwrap_or(Path::new("/run"));
        for part in parent.components().skip(2) {
            dir.push(part);
            ops.push(Op::Mkdir(under(&format!("{stage}/run"), &dir)));
        }
        let target = under(stage, resolv);
        ops.push(Op::Touch(target.clone()));
        ops.push(bind(under("", resolv), target, libc::MS_BIND));
    }
    ops.push(Op::Mkdir(n("/workspace")));
    spec.workspace.attach(n("/workspace"), true, &mut ops);

    for m in spec.mounts {
        let target = under(stage, &m.target);
        if m.target.components().count() == 2 {
            // A new top-level entry lives in the staging tmpfs: make its mount point.
            ops.push(if m.is_dir { Op::Mkdir(target.clone()) } else { Op::Touch(target.clone()) });
        }
        m.source.attach(target, m.is_dir, &mut ops);
    }
    for (path, is_dir) in spec.hide {
        let target = under(stage, path);
        ops.push(if *is_dir {
            tmpfs(
                target,
                libc::MS_RDONLY | libc::MS_NODEV | libc::MS_NOEXEC,
                "mode=0555,size=4k".into(),
            )
        } else {
            bind(c("/dev/null"), target, libc::MS_BIND)
        });
    }

    ops.push(Op::SetAttr {
        path: n(""),
        set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID,
        clear: 0,
        recursive: false,
    });
    // pivot_root walks every task on the host (chroot_fs_refs), so once:
    // the stage becomes the root, the old root is stacked on it and goes in
    // one lazy unmount.
    ops.push(Op::Chdir(n("")));
    ops.push(Op::Pivot { new_root: c("."), put_old: c(".") });
    ops.push(Op::Detach(c(".")));
    ops.push(Op::Chdir(c("/")));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_root_is_listed_without_what_the_box_replaces() {
        let entries = root_entries(Path::new("/")).unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.name.to_string_lossy().into_owned()).collect();
        assert!(names.iter().any(|n| n == "usr" || n == "etc"), "{names:?}");
        for replaced in REPLACED {
            assert!(!names.iter().any(|n| n == replaced), "{replaced} listed: {names:?}");
        }
    }

    #[test]
    fn the_plan_binds_read_only_and_ends_in_the_new_root() {
        let entries = vec![
            RootEntry { name: "usr".into(), kind: RootKind::Dir },
            RootEntry { name: "bin".into(), kind: RootKind::Symlink(c("usr/bin")) },
        ];
        let ops = build(&RootSpec {
            rootfs: Some(Path::new("/srv/images/deb")),
            entries: &entries,
            tmp_size: 1 << 20,
            workspace: Source::Tree(40),
            rootfs_trees: &[Some(41), None],
            mounts: &[],
            hide: &[(PathBuf::from("/var/lib/stockade"), true)],
            stage: Path::new("/run"),
            resolv_in_run: Some(Path::new("/run/systemd/resolve/stub-resolv.conf")),
        });
        let text: Vec<String> = ops.iter().map(Op::describe).collect();
        let has = |s: &str| text.iter().any(|t| t == s);
        assert!(has("attach the daemon's tree at /run/usr"), "{text:#?}");
        assert!(has("make / read-only"));
        assert!(has("symlink /run/bin -> usr/bin"));
        assert!(has("attach the daemon's tree at /run/workspace"));
        assert!(has("mount tmpfs on /run/var/lib/stockade (tmpfs)"));
        assert!(has("mount tmpfs on /run/sys/fs/cgroup (tmpfs)"));
        assert_eq!(text.iter().filter(|t| t.starts_with("pivot_root")).count(), 1);
        assert!(has("mkdir /run/run/systemd/resolve"), "{text:#?}");
        assert!(has(
            "mount /run/systemd/resolve/stub-resolv.conf on /run/run/systemd/resolve/stub-resolv.conf"
        ));
        assert_eq!(text.last().map(String::as_str), Some("chdir /"));
    }

    #[test]
    fn path_sources_are_bound_by_the_child_and_made_writable_or_read_only() {
        let mounts = [
            PlannedMount {
                target: PathBuf::from("/data"),
                is_dir: true,
                source: Source::path(Path::new("/srv/data"), false),
            },
            PlannedMount {
                target: PathBuf::from("/app/conf"),
                is_dir: false,
                source: Source::path(Path::new("/etc/app.conf"), true),
            },
        ];
        let ops = build(&RootSpec {
            rootfs: None,
            entries: &[],
            tmp_size: 1 << 20,
            workspace: Source::path(Path::new("/home/u/.stockade/workspaces/j.0"), false),
            rootfs_trees: &[],
            mounts: &mounts,
            hide: &[],
            stage: Path::new("/run"),
            resolv_in_run: None,
        });
        let text: Vec<String> = ops.iter().map(Op::describe).collect();
        let at =
            |s: &str| text.iter().position(|t| t == s).unwrap_or_else(|| panic!("{s}: {text:#?}"));
        let bound = at("mount /home/u/.stockade/workspaces/j.0 on /run/workspace");
        assert_eq!(bound + 1, at("make /run/workspace writable, nosuid"));
        assert!(at("mount /srv/data on /run/data") < at("make /run/data writable, nosuid"));
        assert!(at("mount /etc/app.conf on /run/app/conf") < at("make /run/app/conf read-only"));
        assert!(!text.iter().any(|t| t.starts_with("attach the daemon's tree")), "{text:#?}");
    }
}
