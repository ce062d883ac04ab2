//! The walls of a box: namespaces, a read-only root, private `/tmp`, a
//! workspace, dropped capabilities, `no_new_privs`, a seccomp filter, and a
//! tiny init as pid 1. [`Walls`] is what a spawn asks for; [`WallsKit`] is
//! what `Sandbox::new` prepares once (the init's memfd, the host root's
//! top-level entries, the id allocator, idmapped-mount support).
//!
//! Reading order: `plan.rs` (what the child will do, built in the parent),
//! `child.rs` (the child between clone and exec), `clone.rs` (the parent's
//! side: clone, id maps, the sync and error pipes), `process.rs` (waiting on
//! the init's pidfd and reading its exit record), `exec.rs` (a command in a
//! running box). `resolve.rs` checks a spec against the box's root before
//! anything is created.

pub(crate) mod caps;
pub(crate) mod child;
pub(crate) mod clone;
pub(crate) mod exec;
pub(crate) mod exec_start;
pub(crate) mod idmap;
pub(crate) mod ids;
pub(crate) mod init;
pub(crate) mod launch_error;
pub(crate) mod plan;
pub(crate) mod process;
pub(crate) mod resolve;
// `SeccompFilter::denied` (the refused names) is for doctor and the docs.
#[allow(dead_code)]
pub(crate) mod seccomp;
pub(crate) mod start;
pub(crate) mod sys;

use std::path::PathBuf;

pub use exec::{ExecProcess, ExecSpec, PtyMaster};
pub use ids::{IDS_PER_BOX, IdRange};

use crate::SandboxError;

/// The walls of one box (`SpawnSpec::walls`; `None` there = isolation "none").
///
/// A walled box's environment is exactly `SpawnSpec::env` (the daemon's own
/// never crosses the wall, whatever `EnvMode` says); its cwd is
/// `SpawnSpec::cwd` as a path *inside* the box, `/workspace` by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walls {
    /// Who the agent runs as inside the box; `None` = root (0:0) inside.
    pub user: Option<BoxUser>,
    /// The network namespace.
    pub network: Network,
    /// Another root tree, shared read-only; `None` = the host root, read-only.
    pub rootfs: Option<PathBuf>,
    /// Bytes of the private tmpfs `/tmp` (and of `/dev/shm`).
    pub tmp_size: u64,
    /// The host directory shown writable at `/workspace`: created if missing,
    /// chowned to the box's ids, never removed by the sandbox. The init's exit
    /// record is written beside it, at `<workspace>.exit`.
    pub workspace: PathBuf,
    /// More binds into the box.
    pub mounts: Vec<BindMount>,
    /// Host paths made invisible (an empty read-only tmpfs over each).
    pub hide: Vec<PathBuf>,
    /// The box's hostname (its own uts namespace).
    pub hostname: String,
}

impl Walls {
    /// Walls with the defaults: root inside, host network, host root, a
    /// 256 MiB `/tmp`, no extra mounts, hostname `box`.
    pub fn new(workspace: impl Into<PathBuf>) -> Walls {
        Walls {
            user: None,
            network: Network::Host,
            rootfs: None,
            tmp_size: 256 * 1024 * 1024,
            workspace: workspace.into(),
            mounts: Vec::new(),
            hide: Vec::new(),
            hostname: "box".into(),
        }
    }

    /// Where the init writes the agent's exit status: `<workspace>.exit`,
    /// beside the workspace, outside everything the box can see (the box
    /// sees only the workspace itself; hide the workspace's parent with
    /// [`Walls::hide`] when it lies in the visible host root).
    pub fn exit_record_path(&self) -> PathBuf {
        let mut name = self.workspace.file_name().unwrap_or_default().to_os_string();
        name.push(".exit");
        self.workspace.with_file_name(name)
    }
}

/// Who the agent runs as inside the box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoxUser {
    /// These ids inside the box (each below 65,536).
    Id {
        /// The uid inside.
        uid: u32,
        /// The gid inside.
        gid: u32,
    },
    /// A user of the box root's `/etc/passwd` (the rootfs's, or the host's).
    Name(String),
}

/// The box's network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Network {
    /// The host's network namespace.
    #[default]
    Host,
    /// Its own network namespace with only loopback, up.
    None,
}

/// One extra bind into the box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// The host path (must exist).
    pub source: PathBuf,
    /// Where it appears in the box (absolute).
    pub target: PathBuf,
    /// Read-only; a writable bind is idmapped so files written through it
    /// belong on the host to the source's owner.
    pub read_only: bool,
}

/// The seccomp filter (Docker's default profile, `seccomp.rs`), compiled
/// once at `Sandbox::new` and installed last before the exec of the init.
pub(crate) struct Seccomp(seccomp::SeccompFilter);

impl std::fmt::Debug for Seccomp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seccomp(docker default profile)")
    }
}

/// Install `filter` in the calling thread. Async-signal-safe.
pub(crate) fn install_seccomp(filter: &Seccomp) -> Result<(), sys::Errno> {
    filter.0.install().map_err(|e| e.raw_os_error())
}

/// What `Sandbox::new` prepares for walled spawns.
#[derive(Debug)]
pub(crate) struct WallsKit {
    pub(crate) init: init::InitImage,
    pub(crate) host_root: Vec<plan::RootEntry>,
    pub(crate) ids: ids::IdAllocator,
    pub(crate) idmap_ok: bool,
    pub(crate) last_cap: u32,
    /// Where new roots are assembled (`/run`, else `/mnt`).
    pub(crate) stage: PathBuf,
    /// `/etc/resolv.conf`'s target if it lies under `/run` (systemd-resolved).
    pub(crate) resolv_in_run: Option<PathBuf>,
    pub(crate) seccomp: Option<std::sync::Arc<Seccomp>>,
    /// A rootless daemon's `(euid, egid)`: every box maps only these (`0
    /// <uid> 1`), binds host paths itself, and runs its agent as root inside.
    pub(crate) own_ids: Option<(u32, u32)>,
}

impl WallsKit {
    /// Prepare once; what this host lacks goes into `warnings`.
    pub(crate) fn new(
        range: IdRange,
        warnings: &mut Vec<String>,
    ) -> Result<WallsKit, SandboxError> {
        let init = init::InitImage::load()?;
        let host_root = plan::root_entries(std::path::Path::new("/"))
            .map_err(|e| SandboxError::io("list", "/", e))?;
        let own_ids = rootless_ids();
        if let Some((uid, gid)) = own_ids {
            warnings.push(rootless_warning(uid, gid));
        }
        let idmap_ok = match own_ids.map_or_else(idmap::probe, |_| Err(String::new())) {
            Ok(()) => true,
            Err(_) if own_ids.is_some() => false,
            Err(why) => {
                warnings.push(format!(
                    "idmapped mounts are not supported here ({why}): writable `mounts` are plain binds, so files a box writes through them belong to the box's host uid, not to the mount's owner"
                ));
                false
            }
        };
        let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40);
        if range.slots() == 0 {
            return Err(SandboxError::InvalidLimit {
                field: "id_range",
                value: format!("{} ids from {}", range.count, range.first),
                hint: "give at least 65536 ids (one box); the default is 2147418112 from 2147483648",
            });
        }
        let seccomp = match seccomp::SeccompFilter::default_profile() {
            Ok(filter) => Some(std::sync::Arc::new(Seccomp(filter))),
            Err(err) => {
                warnings.push(format!("walled boxes run without a seccomp filter: {err}"));
                None
            }
        };
        let stage = ["/run", "/mnt"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_dir() && !p.is_symlink())
            .ok_or_else(|| SandboxError::BackendUnavailable {
                wanted: "walls",
                reason: "neither /run nor /mnt is a directory to assemble box roots on".into(),
                hint: "create /run (mkdir /run)",
            })?;
        let resolv_in_run = std::fs::canonicalize("/etc/resolv.conf")
            .ok()
            .filter(|p| p.starts_with("/run") && p.is_file());
        Ok(WallsKit {
            init,
            stage,
            resolv_in_run,
            host_root,
            ids: ids::IdAllocator::new(range),
            idmap_ok,
            last_cap,
            seccomp,
            own_ids,
        })
    }
}

/// `Some((euid, egid))` when the daemon is not root: it may map only its
/// own ids into a box (user_namespaces(7): one line, its own id, no
/// `setgroups`).
fn rootless_ids() -> Option<(u32, u32)> {
    let uid = rustix::process::geteuid();
    (!uid.is_root()).then(|| (uid.as_raw(), rustix::process::getegid().as_raw()))
}

/// What a rootless daemon's walls do not give, said once at start.
pub(crate) fn rootless_warning(uid: u32, gid: u32) -> String {
    format!(
        "rootless: the daemon runs as uid {uid}, so each walled box maps only uid {uid} and gid {gid} (root inside is uid {uid} outside) — \
         boxes keep their namespaces, no_new_privs, dropped capabilities and seccomp, but they share one host uid with each other and \
         with the daemon's own files (only the mount and pid namespaces keep them apart), a unit with `user` set cannot start, and \
         writable `mounts` are plain binds; run the daemon as root for a separate id range per box"
    )
}

/// What a walled box holds until it is gone: its id slot and its entry in
/// the exec registry.
#[derive(Debug)]
pub(crate) struct BoxHold {
    pub(crate) _slot: ids::IdSlot,
    pub(crate) _registration: exec::Registration,
}

/// Reap a killed init off the caller's path, then release what it held.
pub(crate) fn reap_in_background(mut init: process::WalledChild, hold: Option<BoxHold>) {
    if init.reaped() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(async move {
                let _ = init.wait().await;
                drop(hold);
            });
        }
        Err(_) => {
            clone::reap(init.pidfd());
            drop(hold);
        }
    }
}
