//! `isolation`, `user`, `network`, `rootfs`, `tmp`, `mounts`: the walls of a
//! unit's box (DESIGN.md §4a), as validated types.
//!
//! The sandbox owns the mechanics; this file only says what a spec asked for.
//! The engine's launcher maps [`WallsSpec`] onto `stockade_sandbox::Walls`
//! (adding the per-box workspace, the hidden state directory and the hostname,
//! which are the daemon's business, not the spec's).

use std::path::PathBuf;

/// Default `tmp`: the size of the box's private `/tmp` (a tmpfs; its pages are
/// charged to the box's memory limit, so this is a ceiling, not a reservation).
pub const DEFAULT_TMP_SIZE: u64 = 256 << 20;

/// `isolation`: whether a unit's boxes have walls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// `"walls"` (the default): its own user, pid, mount, ipc and uts
    /// namespaces, the host root read-only, a clean environment.
    Walls(WallsSpec),
    /// `"none"`: today's unwalled box (cgroup limits and rlimits only) for
    /// trusted legacy agents; it inherits the daemon's environment and runs as
    /// the daemon's user. `status`, `ps` and `doctor` flag every such unit.
    None,
}

impl Isolation {
    /// The spellings accepted in a spec.
    pub const NAMES: [&'static str; 2] = ["walls", "none"];

    /// `"walls"` or `"none"`, as the spec and the API spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Isolation::Walls(_) => "walls",
            Isolation::None => "none",
        }
    }

    /// The walls, unless the unit runs unwalled.
    pub fn walls(&self) -> Option<&WallsSpec> {
        match self {
            Isolation::Walls(walls) => Some(walls),
            Isolation::None => None,
        }
    }
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation::Walls(WallsSpec::default())
    }
}

/// What a walled box looks like from inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WallsSpec {
    /// `user`: who the agent runs as inside the box; `None` = root of the box's
    /// user namespace (an unprivileged id on the host).
    pub user: Option<UserSpec>,
    /// `network` (default `host`).
    pub network: NetworkMode,
    /// `rootfs`: an absolute directory used as the box's `/` instead of the
    /// host's, shared read-only; checked to exist when the spec was read.
    pub rootfs: Option<PathBuf>,
    /// `tmp`: bytes of the private `/tmp` (default [`DEFAULT_TMP_SIZE`]).
    pub tmp: u64,
    /// `mounts`, in file order.
    pub mounts: Vec<MountSpec>,
}

impl Default for WallsSpec {
    fn default() -> Self {
        WallsSpec {
            user: None,
            network: NetworkMode::Host,
            rootfs: None,
            tmp: DEFAULT_TMP_SIZE,
            mounts: Vec::new(),
        }
    }
}

/// `user = "name" | uid`: resolved inside the box (its rootfs's `/etc/passwd`,
/// or the host's), by the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSpec {
    /// A user name.
    Name(String),
    /// A numeric uid inside the box's user namespace (below 65536; its gid
    /// is the same number).
    Id(u32),
}

impl UserSpec {
    /// The name as `USER` should say it: the name, or the uid in digits.
    pub fn display_name(&self) -> String {
        match self {
            UserSpec::Name(name) => name.clone(),
            UserSpec::Id(0) => "root".to_owned(),
            UserSpec::Id(uid) => uid.to_string(),
        }
    }
}

/// `network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// `"host"` (default): the host's network namespace.
    #[default]
    Host,
    /// `"none"`: its own network namespace with only loopback.
    None,
}

impl NetworkMode {
    /// The spellings accepted in a spec, in the order of the variants.
    pub const NAMES: [&'static str; 2] = ["host", "none"];

    /// The mode spelled `name` in a spec.
    pub fn from_name(name: &str) -> Option<NetworkMode> {
        match name {
            "host" => Some(NetworkMode::Host),
            "none" => Some(NetworkMode::None),
            _ => None,
        }
    }
}

/// One entry of `mounts`: a host directory (or file) made visible in the box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Absolute host path (relative paths in the spec are resolved against
    /// the spec's directory); checked to exist when the spec was read.
    pub source: PathBuf,
    /// Absolute path inside the box; never `/`, no `..`.
    pub target: PathBuf,
    /// Mounted read-only (default `false`). Files written through a writable
    /// mount belong on the host to the owner of `source` (idmapped mount).
    pub read_only: bool,
}
