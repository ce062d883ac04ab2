//! How a [`crate::Sandbox`] is configured and which backend it ended up with.

use std::fmt;
use std::path::PathBuf;

/// Where the sandbox finds the kernel's files and where it puts its boxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// The cgroup filesystem root, `/sys/fs/cgroup` unless a test points it at a fake.
    pub cgroup_root: PathBuf,
    /// The proc filesystem, `/proc`: `self/cgroup`, `self/mountinfo`, `sys/kernel/*`, `loadavg`.
    pub proc_root: PathBuf,
    /// The name of stockade's subtree; boxes live at
    /// `<daemon's own cgroup, per controller>/<parent>/<box name>`.
    pub parent: String,
    /// Which backend to use.
    pub mode: BackendChoice,
    /// The host ids walled boxes are mapped into, 65,536 per box; the
    /// default is `first = 2_147_483_648` (`0x8000_0000`), `count =
    /// 2_147_418_112` (32,767 boxes) — see [`crate::IdRange`].
    pub id_range: crate::IdRange,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            proc_root: PathBuf::from("/proc"),
            parent: "stockade".to_string(),
            mode: BackendChoice::Auto,
            id_range: crate::IdRange::default(),
        }
    }
}

/// The backend asked for in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Use cgroup v2 if it has the controllers, else v1, else none (with a warning).
    #[default]
    Auto,
    /// Only cgroup v2; fail if it is not usable.
    V2,
    /// Only cgroup v1; fail if it is not usable.
    V1,
    /// No cgroups at all: rlimits and a process group only.
    None,
}

/// The backend in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// The unified hierarchy with delegated controllers.
    V2,
    /// One hierarchy per controller.
    V1,
    /// No writable cgroup tree.
    None,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::V2 => "cgroup v2",
            BackendKind::V1 => "cgroup v1",
            BackendKind::None => "none",
        })
    }
}
