//! cgroup v1: one hierarchy per controller, as on hybrid hosts. A box is one
//! directory of the same relative name in each of the memory, pids, cpu,
//! cpuacct (when mounted apart from cpu) and freezer hierarchies — never in
//! `name=systemd`, devices or blkio, which belong to the host. The box ops
//! (kill, counters, watch) are in [`cgroup`].

mod cgroup;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use stockade_proto::Limits;

use crate::backend::{Backend, Cgroup, file, retry_on_prune};
use crate::detect::Hierarchy;
use crate::name::BoxName;
use crate::{BackendKind, SandboxError};

pub(crate) use cgroup::V1Box;

/// The controllers a box is created in.
const USED: [&str; 5] = ["memory", "pids", "cpu", "cpuacct", "freezer"];

/// One hierarchy the boxes live in: its controllers and stockade's parent dir.
#[derive(Debug, Clone)]
pub(crate) struct V1Hierarchy {
    pub(crate) controllers: Vec<String>,
    pub(crate) parent_dir: PathBuf,
}

/// The v1 backend.
#[derive(Debug)]
pub(crate) struct V1 {
    hierarchies: Vec<V1Hierarchy>,
    /// Swap exists, so `memory.memsw.limit_in_bytes` must be set too.
    swap: bool,
}

impl V1 {
    /// Pick the hierarchies, create stockade's parent in each and say what is
    /// missing. Needs memory and pids; cpu, cpuacct and freezer are optional.
    pub(crate) fn new(
        found: &[Hierarchy],
        parent: &str,
        proc_root: &Path,
    ) -> Result<(V1, Vec<String>), SandboxError> {
        let hierarchies: Vec<V1Hierarchy> = found
            .iter()
            .filter(|h| h.controllers.iter().any(|c| USED.contains(&c.as_str())))
            .map(|h| V1Hierarchy {
                controllers: h
                    .controllers
                    .iter()
                    .filter(|c| USED.contains(&c.as_str()))
                    .cloned()
                    .collect(),
                parent_dir: h.own_dir.join(parent),
            })
            .collect();
        let has = |c: &str| hierarchies.iter().any(|h| h.controllers.iter().any(|x| x == c));
        for required in ["memory", "pids"] {
            if !has(required) {
                return Err(SandboxError::BackendUnavailable {
                    wanted: "cgroup v1",
                    reason: format!(
                        "no `{required}` hierarchy is mounted (see {})",
                        proc_root.join("self/mountinfo").display()
                    ),
                    hint: "mount the controller (mount -t cgroup -o <controller> cgroup /sys/fs/cgroup/<controller>) or use the none backend",
                });
            }
        }
        let mut warnings = Vec::new();
        for (controller, effect) in [
            ("cpu", "`cpus` limits cannot be applied"),
            ("cpuacct", "cpu time is not measured"),
            ("freezer", "boxes are killed by repeated kill-and-reread instead of freeze-kill-thaw"),
        ] {
            if !has(controller) {
                warnings
                    .push(format!("cgroup v1 `{controller}` hierarchy is not mounted: {effect}"));
            }
        }
        for h in &hierarchies {
            std::fs::create_dir_all(&h.parent_dir)
                .map_err(|e| SandboxError::io("create", &h.parent_dir, e))?;
            file::require_writable(&h.parent_dir, "cgroup v1")?;
        }
        let swaps = std::fs::read_to_string(proc_root.join("swaps")).unwrap_or_default();
        Ok((V1 { hierarchies, swap: swaps.lines().count() > 1 }, warnings))
    }

    fn try_create(&self, name: &BoxName, limits: &Limits) -> Result<V1Box, SandboxError> {
        if limits.memory_high.is_some() {
            // Said where it applies, not as a standing warning for every spec.
            tracing::warn!(box_name = %name.as_str(), "cgroup v1 has no `memory.high`: this box's `memory_high` is not applied (`memory` still is)");
        }
        let mut made = V1Box::new(name.clone(), Vec::new(), self.swap);
        for h in &self.hierarchies {
            let dir = h.parent_dir.join(name.as_str());
            if let Some(up) = dir.parent() {
                std::fs::create_dir_all(up).map_err(|e| SandboxError::io("create", up, e))?;
            }
            match std::fs::create_dir(&dir) {
                Ok(()) => made.push(h.clone(), dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let _ = made.remove();
                    return Err(SandboxError::BoxExists {
                        name: name.as_str().to_string(),
                        path: dir,
                    });
                }
                Err(e) => {
                    let _ = made.remove();
                    return Err(SandboxError::io("create", dir, e));
                }
            }
        }
        if let Err(err) = self.write_limits(&made, limits) {
            let _ = made.remove();
            return Err(err);
        }
        Ok(made)
    }

    /// A new box's limits: only the set ones are written (a fresh cgroup is unlimited).
    fn write_limits(&self, b: &V1Box, limits: &Limits) -> Result<(), SandboxError> {
        if limits.memory.is_some() {
            b.write_memory(limits.memory)?;
        }
        if let (Some(pids), Some(dir)) = (limits.pids, b.dir("pids")) {
            file::write(&dir.join("pids.max"), &pids.to_string())?;
        }
        if limits.cpus.is_some() {
            b.write_cpus(limits.cpus)?;
        }
        Ok(())
    }

    fn box_at(&self, name: &BoxName) -> V1Box {
        let mut b = V1Box::new(name.clone(), Vec::new(), self.swap);
        for h in &self.hierarchies {
            b.push(h.clone(), h.parent_dir.join(name.as_str()));
        }
        b
    }
}

impl Backend for V1 {
    fn kind(&self) -> BackendKind {
        BackendKind::V1
    }

    fn create(&self, name: &BoxName, limits: &Limits) -> Result<Arc<dyn Cgroup>, SandboxError> {
        retry_on_prune(|| self.try_create(name, limits)).map(|b| Arc::new(b) as Arc<dyn Cgroup>)
    }

    fn open(&self, name: &BoxName) -> Option<Arc<dyn Cgroup>> {
        let b = self.box_at(name);
        b.dir("pids").is_some_and(Path::exists).then(|| Arc::new(b) as Arc<dyn Cgroup>)
    }

    fn parent_dirs(&self) -> Vec<PathBuf> {
        self.hierarchies.iter().map(|h| h.parent_dir.clone()).collect()
    }
}
