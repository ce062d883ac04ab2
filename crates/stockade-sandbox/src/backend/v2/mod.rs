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

use crate::backend::{Backend, Cgroup, file, retry_on_prune};
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
        file::require_writable(&backend.parent_dir, "cgroup v2")?;
        // Moving a process into a box needs the common ancestor's procs file.
        let procs = found.own_dir.join("cgroup.procs");
        if procs.exists() {
            file::require_writable(&procs, "cgroup v2")?;
        }
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
        retry_on_prune(|| self.try_create(name, limits)).map(|b| Arc::new(b) as Arc<dyn Cgroup>)
    }

    fn open(&self, name: &BoxName) -> Option<Arc<dyn Cgroup>> {
        let b = V2Box::new(name.clone(), self.parent_dir.clone());
        b.dir().exists().then(|| Arc::new(b) as Arc<dyn Cgroup>)
    }

    fn parent_dirs(&self) -> Vec<PathBuf> {
        vec![self.parent_dir.clone()]
    }
}

/// cgroup v2 against a fake cgroupfs in a tempdir: the kernel's files do not
/// behave there, so these check what is written and what is parsed.
#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

    use super::*;

    /// A fake cgroup directory with the given files.
    fn fake_dir(dir: &Path, files: &[(&str, &str)]) {
        fs::create_dir_all(dir).unwrap();
        for (name, content) in files {
            fs::write(dir.join(name), content).unwrap();
        }
    }

    fn hierarchy(root: &Path, controllers: &str) -> Hierarchy {
        fake_dir(root, &[("cgroup.controllers", controllers), ("cgroup.subtree_control", "")]);
        Hierarchy {
            controllers: controllers.split_whitespace().map(str::to_string).collect(),
            own_dir: root.to_path_buf(),
        }
    }

    #[test]
    fn new_delegates_controllers_down_to_the_parent() {
        let root = tempfile::tempdir().unwrap();
        let found = hierarchy(root.path(), "cpuset cpu io memory pids");
        fake_dir(&root.path().join("stockade"), &[("cgroup.subtree_control", "")]);
        let (v2, warnings) = V2::new(&found, "stockade").unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(v2.kind(), BackendKind::V2);
        for dir in [root.path().to_path_buf(), root.path().join("stockade")] {
            assert_eq!(
                fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap(),
                "+memory +pids +cpu"
            );
        }
        // Already enabled: nothing is rewritten.
        fs::write(root.path().join("cgroup.subtree_control"), "cpu memory pids\n").unwrap();
        V2::new(&found, "stockade").unwrap();
        assert_eq!(
            fs::read_to_string(root.path().join("cgroup.subtree_control")).unwrap(),
            "cpu memory pids\n"
        );
    }

    #[test]
    fn missing_controllers_are_named_or_warned() {
        let root = tempfile::tempdir().unwrap();
        let found = hierarchy(root.path(), "cpu memory");
        let err = V2::new(&found, "stockade").unwrap_err().to_string();
        assert!(err.contains("`pids`") && err.contains("cgroup.controllers"), "{err}");
        let found = hierarchy(root.path(), "memory pids");
        fake_dir(&root.path().join("stockade"), &[("cgroup.subtree_control", "")]);
        let (_, warnings) = V2::new(&found, "stockade").unwrap();
        assert!(warnings[0].contains("`cpu`"), "{warnings:?}");
    }

    #[test]
    fn limits_are_written_in_v2_syntax() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            "memory.max",
            "memory.high",
            "memory.swap.max",
            "memory.oom.group",
            "pids.max",
            "cpu.max",
        ];
        fake_dir(dir.path(), &files.map(|f| (f, "")));
        let limits = Limits {
            memory: Some(64 << 20),
            memory_high: Some(48 << 20),
            cpus: Some(1.5),
            pids: Some(100),
            ..Limits::default()
        };
        write_limits(dir.path(), &limits).unwrap();
        let read = |f: &str| fs::read_to_string(dir.path().join(f)).unwrap();
        assert_eq!(read("memory.max"), (64u64 << 20).to_string());
        assert_eq!(read("memory.high"), (48u64 << 20).to_string());
        assert_eq!(read("memory.swap.max"), "0");
        assert_eq!(read("memory.oom.group"), "1");
        assert_eq!(read("pids.max"), "100");
        assert_eq!(read("cpu.max"), "150000 100000");
    }

    #[test]
    fn set_limits_rewrites_a_live_box_and_unsets_to_max() {
        let root = tempfile::tempdir().unwrap();
        let name = BoxName::parse("web/3").unwrap();
        let b = V2Box::new(name, root.path().to_path_buf());
        let files = ["memory.max", "memory.high", "pids.max", "cpu.max"];
        let reset = || fake_dir(b.dir(), &files.map(|f| (f, "")));
        let read = |f: &str| fs::read_to_string(b.dir().join(f)).unwrap();
        reset();
        let limits = Limits {
            memory: Some(128 << 20),
            memory_high: Some(96 << 20),
            cpus: Some(0.5),
            pids: Some(8),
            nofile: Some(10),
            ..Limits::default()
        };
        b.set_limits(&limits).unwrap();
        assert_eq!(read("memory.max"), (128u64 << 20).to_string());
        assert_eq!(read("memory.high"), (96u64 << 20).to_string());
        assert_eq!(read("pids.max"), "8");
        assert_eq!(read("cpu.max"), "50000 100000");
        reset();
        b.set_limits(&Limits { memory: Some(1 << 30), ..Limits::default() }).unwrap();
        assert_eq!(read("memory.max"), (1u64 << 30).to_string());
        assert_eq!(read("memory.high"), "max");
        assert_eq!(read("pids.max"), "max");
        assert_eq!(read("cpu.max"), "max 100000");
        // A limit whose controller file is missing is an error naming it.
        fs::remove_file(b.dir().join("pids.max")).unwrap();
        let err = b.set_limits(&Limits { pids: Some(4), ..Limits::default() }).unwrap_err();
        assert!(err.to_string().contains("pids.max"), "{err}");
    }

    #[test]
    fn a_failed_limit_write_leaves_no_box_and_names_the_file() {
        let root = tempfile::tempdir().unwrap();
        let found = hierarchy(root.path(), "memory pids cpu");
        fake_dir(&root.path().join("stockade"), &[("cgroup.subtree_control", "")]);
        fake_dir(&root.path().join("stockade/web"), &[("cgroup.subtree_control", "")]);
        let (v2, _) = V2::new(&found, "stockade").unwrap();
        let name = BoxName::parse("web/17").unwrap();
        // The fake leaf has no memory.max (the kernel would have made it).
        let err = v2
            .create(&name, &Limits { memory: Some(8 << 20), ..Limits::default() })
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("memory.max"), "{err}");
        assert!(!root.path().join("stockade/web/17").exists(), "half-made box left behind");
        assert_eq!(
            fs::read_to_string(root.path().join("stockade/web/cgroup.subtree_control")).unwrap(),
            "+memory +pids +cpu"
        );
        // Without limits the leaf is made; a second create is refused by name.
        let b = v2.create(&name, &Limits::default()).unwrap();
        let err = v2.create(&name, &Limits::default()).err().unwrap().to_string();
        assert!(err.contains("already exists") && err.contains("remove_stale"), "{err}");
        assert!(v2.open(&name).is_some());
        // The kernel's own files vanish with their cgroup; the fake's must go by hand.
        fs::remove_file(root.path().join("stockade/web/cgroup.subtree_control")).unwrap();
        b.remove().unwrap();
        assert!(!root.path().join("stockade/web").exists(), "empty ancestor pruned");
        assert!(v2.open(&name).is_none());
    }

    #[test]
    fn counters_kill_and_procs_read_the_v2_files() {
        let root = tempfile::tempdir().unwrap();
        let b = V2Box::new(BoxName::parse("j/1").unwrap(), root.path().to_path_buf());
        fake_dir(
            b.dir(),
            &[
                ("memory.events", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n"),
                ("pids.events", "max 3\n"),
                ("memory.current", "1048576\n"),
                ("memory.peak", "2097152\n"),
                ("memory.max", "max\n"),
                ("pids.current", "4\n"),
                ("pids.peak", "9\n"),
                ("pids.max", "64\n"),
                ("cpu.stat", "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n"),
                ("cgroup.procs", "101\n102\n"),
                ("cgroup.kill", ""),
            ],
        );
        let c = b.counters();
        assert_eq!(c.notes, Vec::<String>::new());
        assert_eq!(
            (
                c.oom_kills,
                c.memory_max_hits,
                c.pids_max_hits,
                c.memory_current,
                c.memory_peak,
                c.memory_limit
            ),
            (Some(1), Some(7), Some(3), Some(1 << 20), Some(2 << 20), None)
        );
        assert_eq!(
            (c.pids_current, c.pids_peak, c.pids_limit, c.cpu_usec),
            (Some(4), Some(9), Some(64), Some(1234))
        );
        assert_eq!(b.procs().unwrap(), vec![101, 102]);
        assert_eq!(b.kill_pass().unwrap(), 2);
        assert_eq!(fs::read_to_string(b.dir().join("cgroup.kill")).unwrap(), "1");
        assert_eq!(b.join_fds().unwrap().len(), 1);
        fs::remove_file(b.dir().join("pids.events")).unwrap();
        let c = b.counters();
        assert_eq!(c.pids_max_hits, None);
        assert!(c.notes[0].contains("pids.events"), "{:?}", c.notes);
    }

    #[test]
    fn a_vanished_v2_box_says_so() {
        let root = tempfile::tempdir().unwrap();
        let b = V2Box::new(BoxName::parse("gone").unwrap(), root.path().to_path_buf());
        let err = b.procs().unwrap_err();
        assert!(matches!(err, SandboxError::BoxVanished { .. }), "{err}");
        b.remove().unwrap();
    }

    #[tokio::test]
    async fn the_oom_watch_wakes_when_memory_events_changes() {
        let root = tempfile::tempdir().unwrap();
        let b = V2Box::new(BoxName::parse("w").unwrap(), root.path().to_path_buf());
        fake_dir(b.dir(), &[("memory.events", "oom_kill 0\n")]);
        let watch = b.oom_watch().unwrap();
        let quiet = tokio::time::timeout(Duration::from_millis(50), watch.changed()).await;
        assert!(quiet.is_err(), "woke without a change");
        fs::write(b.dir().join("memory.events"), "oom_kill 1\n").unwrap();
        tokio::time::timeout(Duration::from_secs(10), watch.changed())
            .await
            .expect("no wakeup")
            .unwrap();
    }
}
