//! cgroup v2: one unified hierarchy. Boxes live at
//! `<daemon's own cgroup>/<parent>/<box name>`; each level above a box must
//! list the controllers in its `cgroup.subtree_control`, and by the
//! no-internal-process rule the levels stockade creates never hold a process.
//! The daemon's own cgroup is the exception stockade cannot fix without moving
//! the daemon, which it never does: that case is an error with a hint.
//! The box ops are in [`cgroup`].

mod cgroup;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use stockade_proto::Limits;

use crate::backend::{Backend, Cgroup, file};
use crate::detect::Hierarchy;
use crate::limits::{CFS_PERIOD_US, cfs_quota_us};
use crate::name::BoxName;
use crate::{BackendKind, SandboxError};

pub(crate) use cgroup::V2Box;

/// The v2 backend.
#[derive(Debug)]
pub(crate) struct V2 {
    parent_dir: PathBuf,
    /// `+memory +pids [+cpu]`: what each level above a box enables.
    enable: String,
}

impl V2 {
    /// Check the controllers, create stockade's parent and delegate to it.
    pub(crate) fn new(found: &Hierarchy, parent: &str) -> Result<(V2, Vec<String>), SandboxError> {
        let controllers_file = found.own_dir.join("cgroup.controllers");
        for required in ["memory", "pids"] {
            if !found.has(required) {
                return Err(SandboxError::BackendUnavailable {
                    wanted: "cgroup v2",
                    reason: format!(
                        "`{required}` is not in {} (it lists: {:?})",
                        controllers_file.display(),
                        found.controllers
                    ),
                    hint: "enable the controller in the parent's cgroup.subtree_control (or ask systemd for Delegate=yes)",
                });
            }
        }
        let mut warnings = Vec::new();
        let mut enable = String::from("+memory +pids");
        if found.has("cpu") {
            enable.push_str(" +cpu");
        } else {
            warnings.push(format!(
                "cgroup v2 `cpu` controller is not in {}: `cpus` limits cannot be applied",
                controllers_file.display()
            ));
        }
        let backend = V2 { parent_dir: found.own_dir.join(parent), enable };
        std::fs::create_dir_all(&backend.parent_dir)
            .map_err(|e| SandboxError::io("create", &backend.parent_dir, e))?;
        backend.delegate(&found.own_dir).map_err(|err| match err {
            SandboxError::Io { source, path, .. } if source.raw_os_error() == Some(libc::EBUSY) => {
                SandboxError::BackendUnavailable {
                    wanted: "cgroup v2",
                    reason: format!("cannot enable controllers in {}: the daemon's own cgroup holds processes", path.display()),
                    hint: "start the daemon in a leaf cgroup of a delegated subtree (e.g. systemd-run --scope -p Delegate=yes) so its parent can delegate controllers",
                }
            }
            other => other,
        })?;
        backend.delegate(&backend.parent_dir)?;
        Ok((backend, warnings))
    }

    /// Enable the box controllers for the children of `dir`, unless already on.
    fn delegate(&self, dir: &Path) -> Result<(), SandboxError> {
        let path = dir.join("cgroup.subtree_control");
        let on = file::read(&path)?;
        let on: Vec<&str> = on.split_whitespace().collect();
        if self.enable.split(' ').all(|c| on.contains(&&c[1..])) {
            return Ok(());
        }
        file::write(&path, &self.enable)
    }

    fn try_create(&self, name: &BoxName, limits: &Limits) -> Result<V2Box, SandboxError> {
        let ancestors: Vec<&str> = name.ancestors().collect();
        for ancestor in ancestors.iter().rev() {
            let dir = self.parent_dir.join(ancestor);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(SandboxError::io("create", dir, e)),
            }
            self.delegate(&dir)?;
        }
        let b = V2Box::new(name.clone(), self.parent_dir.clone());
        match std::fs::create_dir(b.dir()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(SandboxError::BoxExists {
                    name: name.as_str().to_string(),
                    path: b.dir().to_path_buf(),
                });
            }
            Err(e) => return Err(SandboxError::io("create", b.dir(), e)),
        }
        if let Err(err) = write_limits(b.dir(), limits) {
            let _ = b.remove();
            return Err(err);
        }
        Ok(b)
    }
}

fn write_limits(dir: &Path, limits: &Limits) -> Result<(), SandboxError> {
    if let Some(memory) = limits.memory {
        file::write(&dir.join("memory.max"), &memory.to_string())?;
        // Swap would let a box exceed its memory limit unnoticed.
        let swap = dir.join("memory.swap.max");
        if swap.exists() {
            file::write(&swap, "0")?;
        }
    }
    if let Some(high) = limits.memory_high {
        file::write(&dir.join("memory.high"), &high.to_string())?;
    }
    // One OOM kill takes the whole agent, so no half-dead agent lingers.
    let group = dir.join("memory.oom.group");
    if group.exists() {
        file::write(&group, "1")?;
    }
    if let Some(pids) = limits.pids {
        file::write(&dir.join("pids.max"), &pids.to_string())?;
    }
    if let Some(cpus) = limits.cpus {
        file::write(&dir.join("cpu.max"), &format!("{} {CFS_PERIOD_US}", cfs_quota_us(cpus)))?;
    }
    Ok(())
}

impl Backend for V2 {
    fn kind(&self) -> BackendKind {
        BackendKind::V2
    }

    fn create(&self, name: &BoxName, limits: &Limits) -> Result<Arc<dyn Cgroup>, SandboxError> {
        // See v1: a concurrent prune of an ancestor shows as ENOENT; retry.
        let mut attempt = 0;
        loop {
            match self.try_create(name, limits) {
                Err(e) if e.is_not_found() && attempt < 3 => attempt += 1,
                other => return other.map(|b| Arc::new(b) as Arc<dyn Cgroup>),
            }
        }
    }

    fn open(&self, name: &BoxName) -> Option<Arc<dyn Cgroup>> {
        let b = V2Box::new(name.clone(), self.parent_dir.clone());
        b.dir().exists().then(|| Arc::new(b) as Arc<dyn Cgroup>)
    }
}
