//! Checking a walled spawn against the box's root before anything is
//! created: the rootfs, the box user (from the box root's `/etc/passwd`),
//! the program (looked up in the box's `PATH` inside the box's root), the
//! mount sources and targets, and which `hide` paths are visible at all.
//! Every refusal is a typed [`SpawnError`] naming the value and the fix.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use stockade_proto::SpawnErrorKind;

use super::plan::REPLACED;
use super::{BoxUser, Walls};
use crate::{SpawnError, SpawnSpec};

/// The PATH a walled box gets when its env has none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn invalid(spec: &SpawnSpec, reason: String, hint: impl Into<String>) -> SpawnError {
    SpawnError::InvalidSpec { box_name: spec.box_name.clone(), reason, hint: hint.into() }
}

/// The box's root on the host: the rootfs, or `/`.
pub(crate) fn root_of(spec: &SpawnSpec, walls: &Walls) -> Result<PathBuf, SpawnError> {
    let Some(rootfs) = &walls.rootfs else { return Ok(PathBuf::from("/")) };
    match std::fs::metadata(rootfs) {
        Ok(m) if m.is_dir() && rootfs.is_absolute() => Ok(rootfs.clone()),
        Ok(_) if !rootfs.is_absolute() => Err(invalid(
            spec,
            format!("rootfs {} is not an absolute path", rootfs.display()),
            "give the root tree as an absolute path",
        )),
        Ok(_) => Err(invalid(
            spec,
            format!("rootfs {} is not a directory", rootfs.display()),
            "point rootfs at an unpacked root tree (e.g. `docker export` or debootstrap output)",
        )),
        Err(e) => Err(invalid(
            spec,
            format!("rootfs {} cannot be used: {e}", rootfs.display()),
            "create the root tree first (e.g. `docker export IMAGE | tar -x -C DIR`) or fix the path",
        )),
    }
}

/// `path` (absolute, inside the box) as a host path, if the box shows a
/// host file there: the workspace, a mount, or the root tree (not the
/// box's own `/tmp`, `/proc`, `/dev`, ...).
pub(crate) fn host_view(path: &Path, root: &Path, walls: &Walls) -> Option<PathBuf> {
    for m in walls.mounts.iter().rev() {
        if let Ok(rest) = path.strip_prefix(&m.target) {
            return Some(m.source.join(rest));
        }
    }
    if let Ok(rest) = path.strip_prefix("/workspace") {
        return Some(walls.workspace.join(rest));
    }
    let rel: PathBuf = path.components().filter(|c| matches!(c, Component::Normal(_))).collect();
    let first = rel.components().next()?;
    if REPLACED.iter().any(|r| first.as_os_str() == OsStr::new(r)) {
        return None;
    }
    Some(root.join(rel))
}

/// Metadata of a box path, with symlinks resolved inside the box root (a
/// rootfs's absolute links point into the rootfs, not the host).
fn box_metadata(path: &Path, root: &Path, walls: &Walls) -> io::Result<std::fs::Metadata> {
    let host =
        host_view(path, root, walls).ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
    if root == Path::new("/") || !host.starts_with(root) {
        return std::fs::metadata(host);
    }
    let rel = host.strip_prefix(root).unwrap_or(&host);
    let dir = rustix::fs::open(
        root,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    )?;
    let fd = rustix::fs::openat2(
        &dir,
        rel,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
        rustix::fs::ResolveFlags::IN_ROOT,
    )?;
    std::fs::File::from(fd).metadata()
}

/// The program `argv[0]` is inside the box, found in the box env's `PATH`
/// within the box's root.
pub(crate) fn program(spec: &SpawnSpec, walls: &Walls, root: &Path) -> Result<PathBuf, SpawnError> {
    let argv0 = &spec.argv[0];
    let fail = |kind, program: String, errno, hint: String| SpawnError::Exec {
        box_name: spec.box_name.clone(),
        program,
        kind,
        hint,
        source: io::Error::from_raw_os_error(errno),
    };
    let where_ = match &walls.rootfs {
        Some(r) => format!("in rootfs {}", r.display()),
        None => "in the box (host root, read-only)".to_string(),
    };
    let executable = |m: &std::fs::Metadata| m.is_file() && m.permissions().mode() & 0o111 != 0;
    if argv0.contains('/') {
        if !argv0.starts_with('/') {
            // Relative to the box's cwd: the init's exec reports what it finds.
            return Ok(PathBuf::from(argv0));
        }
        return match box_metadata(Path::new(argv0), root, walls) {
            Ok(m) if executable(&m) => Ok(PathBuf::from(argv0)),
            Ok(_) => Err(fail(
                SpawnErrorKind::NotExecutable,
                argv0.clone(),
                libc::EACCES,
                format!("{argv0} {where_} is not an executable file"),
            )),
            Err(_) => Err(fail(
                SpawnErrorKind::NotFound,
                argv0.clone(),
                libc::ENOENT,
                format!("no {argv0} {where_}; install it there or fix the path"),
            )),
        };
    }
    let path_var =
        spec.env.iter().rev().find(|(k, _)| k == "PATH").map_or(DEFAULT_PATH, |(_, v)| v.as_str());
    let mut not_executable = None;
    for dir in path_var.split(':').filter(|d| d.starts_with('/')) {
        let candidate = Path::new(dir).join(argv0);
        match box_metadata(&candidate, root, walls) {
            Ok(m) if executable(&m) => return Ok(candidate),
            Ok(_) => {
                not_executable.get_or_insert(candidate);
            }
            Err(_) => {}
        }
    }
    Err(match not_executable {
        Some(path) => fail(
            SpawnErrorKind::NotExecutable,
            path.display().to_string(),
            libc::EACCES,
            format!("{} {where_} is not an executable file; `chmod +x` it", path.display()),
        ),
        None => fail(
            SpawnErrorKind::NotFound,
            argv0.clone(),
            libc::ENOENT,
            format!(
                "no `{argv0}` {where_} in PATH={path_var}; install it there or give an absolute path"
            ),
        ),
    })
}

/// The box user's ids inside the box.
pub(crate) fn user(spec: &SpawnSpec, walls: &Walls, root: &Path) -> Result<(u32, u32), SpawnError> {
    let (uid, gid) = match &walls.user {
        None => (0, 0),
        Some(BoxUser::Id { uid, gid }) => (*uid, *gid),
        Some(BoxUser::Name(name)) => {
            let passwd_path = root.join("etc/passwd");
            let passwd = std::fs::read_to_string(&passwd_path).unwrap_or_default();
            passwd
                .lines()
                .find_map(|line| {
                    let f: Vec<&str> = line.split(':').collect();
                    (f.len() >= 4 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
                })
                .ok_or_else(|| {
                    invalid(
                        spec,
                        format!("user `{name}` is not in {}", passwd_path.display()),
                        "add the user to the box root's /etc/passwd, or give numeric ids (`user = 1000`)",
                    )
                })?
        }
    };
    if uid >= super::IDS_PER_BOX || gid >= super::IDS_PER_BOX {
        return Err(invalid(
            spec,
            format!("box user {uid}:{gid} is outside the box's 65536 ids"),
            "use ids below 65536 inside the box",
        ));
    }
    Ok((uid, gid))
}

/// One checked bind: its source is a directory (else a file).
pub(crate) fn mount_source(
    spec: &SpawnSpec,
    walls: &Walls,
    root: &Path,
    index: usize,
) -> Result<bool, SpawnError> {
    let m = &walls.mounts[index];
    if !m.target.is_absolute()
        || m.target == Path::new("/")
        || m.target.components().any(|c| c == Component::ParentDir)
    {
        return Err(invalid(
            spec,
            format!("mount target {} is not an absolute path below /", m.target.display()),
            "give targets like /data",
        ));
    }
    let meta = std::fs::metadata(&m.source).map_err(|e| {
        invalid(
            spec,
            format!("mount source {} cannot be used: {e}", m.source.display()),
            "create the source directory on the host first, or remove the mount",
        )
    })?;
    let first =
        m.target.components().nth(1).map(|c| c.as_os_str().as_bytes().to_vec()).unwrap_or_default();
    let top_level = m.target.components().count() == 2;
    let in_replaced = REPLACED.iter().any(|r| r.as_bytes() == first.as_slice());
    if !top_level && !in_replaced {
        let inside = box_metadata(&m.target, root, walls);
        if !inside.as_ref().is_ok_and(|t| t.is_dir() == meta.is_dir()) {
            return Err(invalid(
                spec,
                format!(
                    "mount target {} does not exist in the box's root as a {}",
                    m.target.display(),
                    if meta.is_dir() { "directory" } else { "file" }
                ),
                "mount at a new top-level path (e.g. /data) or at one that exists in the root tree",
            ));
        }
    } else if in_replaced && !top_level && first != b"tmp" && first != b"workspace" {
        return Err(invalid(
            spec,
            format!(
                "mount target {} is inside the box's own /{}",
                m.target.display(),
                String::from_utf8_lossy(&first)
            ),
            "mount below /tmp, /workspace or a new top-level path",
        ));
    }
    Ok(meta.is_dir())
}

/// The `hide` paths the box would otherwise see, with whether each is a
/// directory: existing absolute host paths outside what the box replaces
/// (its own `/tmp`, `/proc`, ...). With a rootfs the host tree is not shown
/// at all, so nothing needs hiding.
pub(crate) fn visible_hides(walls: &Walls) -> Vec<(PathBuf, bool)> {
    if walls.rootfs.is_some() {
        return Vec::new();
    }
    walls
        .hide
        .iter()
        .filter(|p| p.is_absolute())
        .filter(|p| {
            let first = p.components().nth(1).map(|c| c.as_os_str().as_bytes().to_vec());
            first.is_some_and(|f| !REPLACED.iter().any(|r| r.as_bytes() == f.as_slice()))
        })
        .filter_map(|p| std::fs::metadata(p).ok().map(|m| (p.clone(), m.is_dir())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walls::BindMount;

    fn spec_with(walls: Walls, argv: &[&str]) -> SpawnSpec {
        SpawnSpec {
            box_name: "t/1".into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            walls: Some(walls),
            ..SpawnSpec::default()
        }
    }

    #[test]
    fn box_paths_map_to_the_workspace_mounts_root_or_nothing() {
        let mut walls = Walls::new("/srv/ws/a");
        walls.mounts.push(BindMount {
            source: "/data/x".into(),
            target: "/data".into(),
            read_only: true,
        });
        let root = Path::new("/srv/rootfs");
        let view = |p: &str| host_view(Path::new(p), root, &walls);
        assert_eq!(view("/workspace/bin/run"), Some(PathBuf::from("/srv/ws/a/bin/run")));
        assert_eq!(view("/data/file"), Some(PathBuf::from("/data/x/file")));
        assert_eq!(view("/usr/bin/sh"), Some(PathBuf::from("/srv/rootfs/usr/bin/sh")));
        assert_eq!(view("/tmp/x"), None, "the box's own /tmp shows nothing of the host");
        assert_eq!(view("/proc/self/exe"), None);
    }

    #[test]
    fn users_come_from_the_box_roots_passwd_and_must_fit_the_map() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nagent:x:1001:1002::/w:/bin/sh\n",
        )
        .unwrap();
        let mut walls = Walls::new("/w");
        walls.user = Some(BoxUser::Name("agent".into()));
        assert_eq!(
            user(&spec_with(walls.clone(), &["x"]), &walls, dir.path()).unwrap(),
            (1001, 1002)
        );
        walls.user = Some(BoxUser::Name("ghost".into()));
        let err = user(&spec_with(walls.clone(), &["x"]), &walls, dir.path()).unwrap_err();
        assert!(err.to_string().contains("ghost"), "{err}");
        walls.user = Some(BoxUser::Id { uid: 70_000, gid: 0 });
        let err = user(&spec_with(walls.clone(), &["x"]), &walls, dir.path()).unwrap_err();
        assert!(err.to_string().contains("65536"), "{err}");
    }

    #[test]
    fn programs_are_found_inside_a_rootfs_with_its_own_absolute_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::create_dir_all(root.join("opt/tool")).unwrap();
        let tool = root.join("opt/tool/run");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        // An absolute link: it must resolve inside the rootfs, not on the host.
        std::os::unix::fs::symlink("/opt/tool/run", root.join("usr/bin/tool")).unwrap();
        let mut walls = Walls::new("/w");
        walls.rootfs = Some(root.to_path_buf());
        let s = spec_with(walls.clone(), &["tool"]);
        assert_eq!(program(&s, &walls, root).unwrap(), PathBuf::from("/usr/bin/tool"));
        let err = program(&spec_with(walls.clone(), &["sh"]), &walls, root).unwrap_err();
        assert!(
            err.hint().contains(&root.display().to_string()) && err.hint().contains("PATH="),
            "{}",
            err.hint()
        );
    }
}
