//! A walled spawn assembled: [`check`] runs before the box's cgroup exists
//! (everything that can be refused is refused there), [`prepare`] turns the
//! checked spec, the box's cgroup joins and its id slot into a
//! [`Launch`] for the spawner thread.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::child::{ChildPlan, Entry};
use super::clone::IdMap;
use super::clone::{self, Launch};
use super::plan::{self, PlannedMount, RootSpec, Source};
use super::{Network, Walls, WallsKit, caps, idmap, resolve, sys};
use crate::rlimit::RlimitPlan;
use crate::{ParentDeath, SpawnError, SpawnSpec};

/// A spec that passed every check against the box's root.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) walls: Walls,
    pub(crate) root: PathBuf,
    pub(crate) program: PathBuf,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Per mount: is its source a directory.
    pub(crate) mount_dirs: Vec<bool>,
    pub(crate) hides: Vec<(PathBuf, bool)>,
}

/// The daemon's ends of a started box.
#[derive(Debug)]
pub(crate) struct ParentEnds {
    /// `None` when the output goes to `SpawnSpec::output`.
    pub(crate) stdout: Option<OwnedFd>,
    pub(crate) stderr: Option<OwnedFd>,
    pub(crate) record: File,
}

fn cstring(spec: &SpawnSpec, what: &str, bytes: &[u8]) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|_| SpawnError::InvalidSpec {
        box_name: spec.box_name.clone(),
        reason: format!("{what} contains a NUL byte"),
        hint: "remove the NUL byte; the kernel cannot pass it".into(),
    })
}

/// Check `spec` against its walls; creates the workspace if missing.
pub(crate) fn check(
    spec: &SpawnSpec,
    walls: &Walls,
    kit: &WallsKit,
) -> Result<Checked, SpawnError> {
    let stage: &Path = &kit.stage;
    let invalid = |reason: String, hint: &str| SpawnError::InvalidSpec {
        box_name: spec.box_name.clone(),
        reason,
        hint: hint.into(),
    };
    if !walls.workspace.is_absolute() {
        return Err(invalid(
            format!("workspace {} is not an absolute path", walls.workspace.display()),
            "give the workspace as an absolute host path",
        ));
    }
    if walls.tmp_size == 0 {
        return Err(invalid(
            "tmp size 0".into(),
            "give /tmp a size, e.g. 256MiB (tmpfs treats 0 as unlimited)",
        ));
    }
    if let Some(cwd) = &spec.cwd
        && !cwd.is_absolute()
    {
        return Err(invalid(
            format!("the working directory {} is not absolute", cwd.display()),
            "a walled box's cwd is a path inside the box, e.g. /workspace/src",
        ));
    }
    // Sources are bound from their host paths while the stage is covered.
    let sources =
        walls.rootfs.iter().chain([&walls.workspace]).chain(walls.mounts.iter().map(|m| &m.source));
    for source in sources {
        let real = std::fs::canonicalize(source).unwrap_or_else(|_| source.clone());
        if source.starts_with(stage) || real.starts_with(stage) {
            return Err(invalid(
                format!(
                    "{} lies under {}, where box roots are assembled",
                    source.display(),
                    stage.display()
                ),
                "keep workspaces, rootfs trees and mount sources out of /run (e.g. under /var/lib/stockade)",
            ));
        }
    }
    let root = resolve::root_of(spec, walls)?;
    let (uid, gid) = resolve::user(spec, walls, &root)?;
    if let Some((own_uid, _)) = kit.own_ids
        && (uid, gid) != (0, 0)
    {
        return Err(invalid(
            format!(
                "the daemon runs rootless (uid {own_uid}): a box maps only that one id (as root inside), so the box user {uid}:{gid} does not exist in it"
            ),
            "remove `user` from the unit (the agent then runs as root inside, the daemon's uid outside), or run the daemon as root",
        ));
    }
    let mount_dirs = (0..walls.mounts.len())
        .map(|i| resolve::mount_source(spec, walls, &root, i))
        .collect::<Result<Vec<_>, _>>()?;
    let program = resolve::program(spec, walls, &root)?;
    // Created only once every check passed (it is kept, never removed).
    std::fs::create_dir_all(&walls.workspace).map_err(|e| {
        invalid(
            format!("cannot create the workspace {}: {e}", walls.workspace.display()),
            "check that the daemon can write the workspace's parent directory",
        )
    })?;
    let hides = resolve::visible_hides(walls);
    Ok(Checked { walls: walls.clone(), root, program, uid, gid, mount_dirs, hides })
}

/// Everything the spawner thread needs, and the daemon's ends.
pub(crate) fn prepare(
    spec: &SpawnSpec,
    checked: &Checked,
    kit: &WallsKit,
    base: u32,
    join: Vec<OwnedFd>,
) -> Result<(Launch, ParentEnds), SpawnError> {
    let box_name = spec.box_name.clone();
    let setup = |what: String, e: std::io::Error| SpawnError::InvalidSpec {
        box_name: box_name.clone(),
        reason: format!("{what}: {e}"),
        hint: "see the OS error".into(),
    };
    let walls = &checked.walls;
    let (host_uid, host_gid) = kit.own_ids.unwrap_or((base + checked.uid, base + checked.gid));
    std::os::unix::fs::chown(&walls.workspace, Some(host_uid), Some(host_gid))
        .map_err(|e| setup(format!("chown the workspace {}", walls.workspace.display()), e))?;
    // A rootless daemon cannot make detached trees: its box binds every
    // host path itself (it maps the daemon's uid, so it can walk them).
    let rootless = kit.own_ids.is_some();

    let mut child_side: Vec<OwnedFd> = Vec::new();
    let mut mounts = Vec::new();
    // Every host path the box gets is opened here, as the daemon: the box's
    // mapped ids may not be able to walk to it (see `idmap::detached`).
    let mut hand_over = |tree: OwnedFd| -> Result<std::os::fd::RawFd, SpawnError> {
        let tree = clone::high(tree).map_err(|e| setup("dup".into(), e))?;
        let raw = std::os::fd::AsRawFd::as_raw_fd(&tree);
        child_side.push(tree);
        Ok(raw)
    };
    let read_only = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID;
    let workspace = if rootless {
        Source::path(&walls.workspace, false)
    } else {
        let tree = idmap::detached(&walls.workspace, sys::MOUNT_ATTR_NOSUID)
            .map_err(|e| setup(format!("open the workspace {}", walls.workspace.display()), e))?;
        Source::Tree(hand_over(tree)?)
    };
    for (m, &is_dir) in walls.mounts.iter().zip(&checked.mount_dirs) {
        if rootless {
            let source = Source::path(&m.source, m.read_only);
            mounts.push(PlannedMount { target: m.target.clone(), is_dir, source });
            continue;
        }
        let tree = if !m.read_only && kit.idmap_ok {
            let owner = std::fs::metadata(&m.source)
                .map_err(|e| setup(format!("stat {}", m.source.display()), e))?;
            let ns = idmap::userns((owner.uid(), host_uid), (owner.gid(), host_gid))
                .map_err(|e| setup("make the idmap user namespace".into(), e))?;
            idmap::tree(&m.source, &ns)
                .map_err(|e| setup(format!("idmap {}", m.source.display()), e))?
        } else {
            let attrs = if m.read_only { read_only } else { sys::MOUNT_ATTR_NOSUID };
            idmap::detached(&m.source, attrs)
                .map_err(|e| setup(format!("open the mount source {}", m.source.display()), e))?
        };
        let source = Source::Tree(hand_over(tree)?);
        mounts.push(PlannedMount { target: m.target.clone(), is_dir, source });
    }
    let entries_owned;
    let mut rootfs_trees = Vec::new();
    let entries = match &walls.rootfs {
        None => &kit.host_root[..],
        Some(r) => {
            entries_owned = plan::root_entries(r)
                .map_err(|e| setup(format!("list rootfs {}", r.display()), e))?;
            for entry in entries_owned.iter().filter(|_| !rootless) {
                rootfs_trees.push(match entry.kind {
                    plan::RootKind::Symlink(_) => None,
                    plan::RootKind::Dir | plan::RootKind::File => {
                        let path = r.join(&entry.name);
                        let tree = idmap::detached(&path, read_only)
                            .map_err(|e| setup(format!("open {}", path.display()), e))?;
                        Some(hand_over(tree)?)
                    }
                });
            }
            &entries_owned[..]
        }
    };
    let ops = plan::build(&RootSpec {
        rootfs: walls.rootfs.as_deref(),
        entries,
        tmp_size: walls.tmp_size,
        workspace,
        rootfs_trees: &rootfs_trees,
        mounts: &mounts,
        hide: &checked.hides,
        stage: &kit.stage,
        resolv_in_run: if walls.rootfs.is_none() { kit.resolv_in_run.as_deref() } else { None },
    });

    let pipes = |what: &str| {
        let what = what.to_string();
        clone::pipe().map_err(|e| setup(format!("make the {what} pipe"), e))
    };
    let ((out_r, out_w), (err_r, err_w)) = match &spec.output {
        Some(output) => {
            let dup = |e| setup("dup the log file".into(), e);
            let (out, err) = output.stdio().map_err(dup)?;
            ((None, clone::high(out).map_err(dup)?), (None, clone::high(err).map_err(dup)?))
        }
        None => {
            let (out_r, out_w) = pipes("stdout")?;
            let (err_r, err_w) = pipes("stderr")?;
            ((Some(out_r), out_w), (Some(err_r), err_w))
        }
    };
    let (sync_r, sync_w) = pipes("sync")?;
    let (report_r, report_w) = pipes("error")?;
    let null = clone::high(File::open("/dev/null").map_err(|e| setup("open /dev/null".into(), e))?)
        .map_err(|e| setup("dup".into(), e))?;
    let record_path = walls.exit_record_path();
    let (record, record_child) = clone::exit_record(&record_path)
        .map_err(|e| setup(format!("create the exit record {}", record_path.display()), e))?;
    let join: Vec<OwnedFd> = join
        .into_iter()
        .map(clone::high)
        .collect::<Result<_, _>>()
        .map_err(|e| setup("dup".into(), e))?;

    let raw = std::os::fd::AsRawFd::as_raw_fd;
    let hostname = cstring(spec, "hostname", walls.hostname.as_bytes())?;
    let cwd = spec.cwd.clone().unwrap_or_else(|| PathBuf::from("/workspace"));
    let mut argv = vec![c"stockade-init".to_owned()];
    if spec.output.is_some() {
        // The init tags the agent's lines into the log (init/main.rs `--log`).
        argv.push(c"--log".to_owned());
    }
    argv.push(cstring(spec, "program", checked.program.as_os_str().as_bytes())?);
    argv.push(c"--".to_owned());
    for a in &spec.argv {
        argv.push(cstring(spec, "argv", a.as_bytes())?);
    }
    let envp = spec
        .env
        .iter()
        .map(|(k, v)| cstring(spec, "env", format!("{k}={v}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let kept = caps::kept_mask();
    let mut plan = ChildPlan {
        join: clone::raws(&join),
        stdio: [raw(&null), raw(&out_w), raw(&err_w)],
        err_write: raw(&report_w),
        record: raw(&record_child),
        entry: Entry::Spawn {
            sync_read: raw(&sync_r),
            ops,
            hostname,
            loopback: walls.network == Network::None,
        },
        rlimits: RlimitPlan::for_limits(&spec.limits),
        cwd: cstring(spec, "cwd", cwd.as_os_str().as_bytes())?,
        uid: checked.uid,
        gid: checked.gid,
        setgroups: !rootless,
        drop_caps: (0..=kit.last_cap).filter(|c| kept & (1u64 << c) == 0).collect(),
        keep_caps: if checked.uid == 0 { kept } else { 0 },
        parent_death: spec.parent_death == ParentDeath::Kill,
        seccomp: kit.seccomp.clone(),
        init_fd: kit.init.raw(),
        argv,
        envp,
        argv_ptrs: Vec::new(),
        envp_ptrs: Vec::new(),
        keep: Vec::new(),
        keep_first: Vec::new(),
    };
    plan.seal();
    let mut flags = (libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS) as u64;
    if walls.network == Network::None {
        flags |= libc::CLONE_NEWNET as u64;
    }
    child_side.extend([null, out_w, err_w, report_w, record_child, sync_r]);
    child_side.extend(join);
    let launch = Launch {
        plan,
        clone_flags: flags,
        id_map: Some(match kit.own_ids {
            Some((uid, gid)) => IdMap::Own { uid, gid },
            None => IdMap::Range(base),
        }),
        child_side,
        sync_write: Some(sync_w),
        err_read: report_r,
        describe_op: |plan, index| match &plan.entry {
            Entry::Spawn { ops, .. } => {
                ops.get(index as usize).map_or_else(|| format!("step {index}"), |op| op.describe())
            }
            Entry::Join { .. } => format!("step {index}"),
        },
    };
    Ok((launch, ParentEnds { stdout: out_r, stderr: err_r, record }))
}
