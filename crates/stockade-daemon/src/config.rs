//! [`Config`]: everything [`crate::run`] needs, with the parts tests replace.

use std::path::Path;
use stockade_host::HostRoot;
use stockade_sandbox::{ParentDeath, SandboxConfig};
use stockade_spec::Spec;

/// The daemon's configuration: the validated spec plus the roots of the OS
/// it talks to (real ones by default; tests inject a cgroup parent of their own).
#[derive(Debug, Clone)]
pub struct Config {
    /// The validated spec.
    pub spec: Spec,
    /// Where boxes go and which backend to use.
    pub sandbox: SandboxConfig,
    /// `/proc`, `/sys` and `/etc` for host snapshots.
    pub host_root: HostRoot,
    /// Whether agents die with the daemon (`stockade up`: yes, nothing may
    /// outlive it) or survive it to be found by the next start (`stockade
    /// daemon`, where a restart re-reads the boxes).
    pub parent_death: ParentDeath,
    /// Start a new, empty store even though one existed (or was lost) in the
    /// state directory, keeping the old files aside (`--new-store`).
    pub new_store: bool,
}

impl Config {
    /// Read and validate the spec at `path`, with the default roots.
    pub fn from_spec_file(path: &Path) -> Result<Config, stockade_spec::SpecError> {
        Ok(Config::new(Spec::from_file(path)?))
    }

    /// A config for `spec` with the default roots.
    pub fn new(spec: Spec) -> Config {
        Config {
            spec,
            sandbox: SandboxConfig::default(),
            host_root: HostRoot::default(),
            parent_death: ParentDeath::Survive,
            new_store: false,
        }
    }
}
