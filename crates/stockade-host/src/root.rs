//! Where the host's files live. Every probe reads through a [`HostRoot`] so tests
//! point it at a fixture tree in a tempdir instead of the real `/proc`.

use std::path::{Path, PathBuf};

/// The three trees the probes and the lint read. Default: `/proc`, `/sys`, `/etc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoot {
    /// The procfs mount (`/proc`): sysctls, loadavg, meminfo, PSI, `self/*`.
    pub proc: PathBuf,
    /// The sysfs mount (`/sys`): cgroup hierarchies, cpu topology.
    pub sys: PathBuf,
    /// The config tree (`/etc`): limits.conf and sysctl.conf for the lint.
    pub etc: PathBuf,
}

impl Default for HostRoot {
    fn default() -> Self {
        HostRoot { proc: "/proc".into(), sys: "/sys".into(), etc: "/etc".into() }
    }
}

impl HostRoot {
    /// A root whose trees are `dir/proc`, `dir/sys` and `dir/etc` (fixture trees).
    pub fn under(dir: &Path) -> Self {
        HostRoot { proc: dir.join("proc"), sys: dir.join("sys"), etc: dir.join("etc") }
    }

    /// A file under `/proc/sys` by its sysctl name (`kernel.threads-max`).
    pub fn sysctl_path(&self, name: &str) -> PathBuf {
        self.proc.join("sys").join(name.replace('.', "/"))
    }

    /// How a path under one of the roots reads to a user: as if the root were
    /// the real one, so messages and snapshots say `/etc/security/limits.conf`
    /// whatever tempdir a test used.
    pub fn display(&self, path: &Path) -> String {
        for (root, real) in [(&self.etc, "/etc"), (&self.proc, "/proc"), (&self.sys, "/sys")] {
            if let Ok(rest) = path.strip_prefix(root) {
                return Path::new(real).join(rest).display().to_string();
            }
        }
        path.display().to_string()
    }
}
