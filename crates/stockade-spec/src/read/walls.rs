//! The box keys shared by `[defaults]`, `[service.X]` and `[job.X]`:
//! `isolation`, `user`, `network`, `rootfs`, `tmp`, `mounts`, `env_file`,
//! `inherit_env` → [`Isolation`], [`EnvFile`], [`EnvPattern`]s.
//!
//! A unit's key replaces the `[defaults]` one whole (a unit's `mounts` is its
//! full list, not added to the defaults'). Files are checked here, so `stockade
//! check` catches them: `rootfs` must be a directory holding the unit's
//! program, `mounts` sources must exist, `env_file` must parse.

use std::path::{Component, Path, PathBuf};

use super::table::{Reader, Table};
use crate::box_env::DEFAULT_PATH;
use crate::model::{
    DEFAULT_TMP_SIZE, EnvFile, EnvPattern, Isolation, MountSpec, NetworkMode, UserSpec, WallsSpec,
    parse_env_file,
};
use crate::problem::Problem;

/// The keys that only mean something with walls (an unwalled box inherits
/// the daemon's whole environment, so `inherit_env` has nothing to add).
const WALL_ONLY_KEYS: [&str; 6] = ["user", "network", "rootfs", "tmp", "mounts", "inherit_env"];
/// Ids each box's user namespace maps: a numeric `user` must be one of them.
const BOX_IDS: u32 = 65536;
pub(crate) const MOUNT_KEYS: &[&str] = &["source", "target", "read_only"];

/// Box keys as written in one table; `None` = not set there.
#[derive(Debug, Clone, Default)]
pub(crate) struct BoxKeys {
    walls: Option<bool>,
    user: Option<UserSpec>,
    network: Option<NetworkMode>,
    rootfs: Option<PathBuf>,
    tmp: Option<u64>,
    mounts: Option<Vec<MountSpec>>,
    env_file: Option<EnvFile>,
    inherit_env: Option<Vec<EnvPattern>>,
}

/// A unit's resolved box settings.
pub(crate) struct UnitBox {
    pub(crate) isolation: Isolation,
    pub(crate) env_file: Option<EnvFile>,
    pub(crate) inherit_env: Vec<EnvPattern>,
}

impl BoxKeys {
    /// These keys over `defaults`, resolved.
    fn over(self, defaults: &BoxKeys) -> UnitBox {
        let walled = self.walls.or(defaults.walls).unwrap_or(true);
        let isolation = if walled {
            Isolation::Walls(WallsSpec {
                user: self.user.or_else(|| defaults.user.clone()),
                network: self.network.or(defaults.network).unwrap_or_default(),
                rootfs: self.rootfs.or_else(|| defaults.rootfs.clone()),
                tmp: self.tmp.or(defaults.tmp).unwrap_or(DEFAULT_TMP_SIZE),
                mounts: self.mounts.or_else(|| defaults.mounts.clone()).unwrap_or_default(),
            })
        } else {
            Isolation::None
        };
        UnitBox {
            isolation,
            env_file: self.env_file.or_else(|| defaults.env_file.clone()),
            inherit_env: self
                .inherit_env
                .or_else(|| defaults.inherit_env.clone())
                .unwrap_or_default(),
        }
    }
}

impl Reader<'_> {
    /// The box keys of `[defaults]` (absent table: none set).
    pub(crate) fn box_defaults(&mut self, t: Option<&Table<'_, '_>>) -> BoxKeys {
        t.map(|t| self.box_keys(t)).unwrap_or_default()
    }

    /// A unit's box: its keys over `defaults`, with the rootfs checked against
    /// its `command` (a program without `/` must be in the box's `PATH`).
    pub(crate) fn unit_box(
        &mut self,
        t: &Table<'_, '_>,
        defaults: &BoxKeys,
        command: &[String],
        env_path: Option<&str>,
    ) -> UnitBox {
        let keys = self.box_keys(t);
        let unit = keys.over(defaults);
        match &unit.isolation {
            Isolation::None => {
                for key in WALL_ONLY_KEYS {
                    if t.get(key).is_some() {
                        let problem = Problem::OnlyApplies {
                            key: t.key(key),
                            when: "with isolation = \"walls\"",
                        };
                        self.report(problem, t.span_of(key));
                    }
                }
            }
            Isolation::Walls(walls) => {
                if let (Some(rootfs), Some(program)) = (&walls.rootfs, command.first()) {
                    self.program_in_rootfs(t, rootfs, program, env_path);
                }
            }
        }
        unit
    }

    /// A walled box's init is one of its `pids` (it is pid 1 of the box and
    /// sits in its cgroup): with `pids = 1` the agent could never be forked.
    pub(crate) fn walled_pids(
        &mut self,
        t: &Table<'_, '_>,
        limits: &stockade_proto::Limits,
        isolation: &Isolation,
    ) {
        if let (Isolation::Walls(_), Some(pids @ 0..=1)) = (isolation, limits.pids) {
            let problem = Problem::PidsBelowInit { key: t.key("limits.pids"), pids };
            self.report(problem, t.span_of("limits"));
        }
    }

    fn box_keys(&mut self, t: &Table<'_, '_>) -> BoxKeys {
        BoxKeys {
            walls: self.choice(t, "isolation", &Isolation::NAMES, |n| match n {
                "walls" => Some(true),
                "none" => Some(false),
                _ => None,
            }),
            user: self.user(t),
            network: self.choice(t, "network", &NetworkMode::NAMES, NetworkMode::from_name),
            rootfs: self.rootfs(t),
            tmp: self.tmp(t),
            mounts: self.mounts(t),
            env_file: self.env_file(t),
            inherit_env: self.inherit_env(t),
        }
    }

    fn user(&mut self, t: &Table<'_, '_>) -> Option<UserSpec> {
        let value = t.get("user")?;
        if value.get_ref().as_integer().is_some() {
            let uid = self.u32(t, "user")?;
            if uid >= BOX_IDS {
                self.out_of_range(t, "user", uid, "a uid below 65536 (each box maps 65536 ids)");
                return None;
            }
            return Some(UserSpec::Id(uid));
        }
        let name = self.string(t, "user")?;
        let ok = !name.is_empty()
            && name.len() <= 32
            && !name.starts_with('-')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !ok {
            self.out_of_range(t, "user", format!("{name:?}"), "a user name or a numeric uid");
            return None;
        }
        Some(UserSpec::Name(name))
    }

    fn rootfs(&mut self, t: &Table<'_, '_>) -> Option<PathBuf> {
        let path = self.path(t, "rootfs")?;
        let reason = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => return Some(path),
            Ok(_) => "is not a directory".to_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_owned(),
            Err(e) => format!("cannot be read: {e}"),
        };
        self.report(Problem::BadRootfs { key: t.key("rootfs"), path, reason }, t.span_of("rootfs"));
        None
    }

    fn program_in_rootfs(
        &mut self,
        t: &Table<'_, '_>,
        rootfs: &Path,
        program: &str,
        env_path: Option<&str>,
    ) {
        let inside = |p: &str| rootfs.join(p.trim_start_matches('/'));
        let (found, searched) = if program.starts_with('/') {
            (inside(program).is_file(), program.to_owned())
        } else if program.contains('/') {
            // Relative to the box's working directory, which the rootfs does
            // not hold (it is the workspace or a mount): nothing to check.
            return;
        } else {
            let path = env_path.unwrap_or(DEFAULT_PATH);
            let found = path.split(':').filter(|d| d.starts_with('/')).any(|dir| {
                let candidate = inside(dir).join(program);
                // `is_file` follows symlinks, which in a rootfs may be absolute
                // (pointing into the host); accept a symlink entry as present.
                candidate.is_file() || candidate.symlink_metadata().is_ok()
            });
            (found, format!("PATH={path}"))
        };
        if !found {
            let problem = Problem::ProgramNotInRootfs {
                key: t.key("command"),
                program: program.to_owned(),
                rootfs: rootfs.to_owned(),
                searched,
            };
            self.report(problem, t.span_of("command"));
        }
    }

    fn tmp(&mut self, t: &Table<'_, '_>) -> Option<u64> {
        let size = self.size(t, "tmp")?;
        if size < 1 << 20 {
            self.out_of_range(t, "tmp", size, "at least 1MiB");
            return None;
        }
        Some(size)
    }

    fn mounts(&mut self, t: &Table<'_, '_>) -> Option<Vec<MountSpec>> {
        let value = t.get("mounts")?;
        let Some(items) = value.get_ref().as_array() else {
            let found = value.get_ref().type_str();
            let expected = "an array of tables such as [{ source = \"data\", target = \"/data\" }]";
            self.report(Problem::WrongType { key: t.key("mounts"), expected, found }, value.span());
            return None;
        };
        let mut mounts = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let path = format!("{}[{index}]", t.key("mounts"));
            let Some(m) = self.open(path, item.span(), item, MOUNT_KEYS) else { continue };
            for key in ["source", "target"] {
                if m.get(key).is_none() {
                    self.report(Problem::MissingKey { table: m.display(), key }, m.span.clone());
                }
            }
            let source = self.path(&m, "source");
            let source = source.filter(|source| {
                let exists = source.symlink_metadata().is_ok();
                if !exists {
                    let problem =
                        Problem::MountSourceMissing { key: m.key("source"), path: source.clone() };
                    self.report(problem, m.span_of("source"));
                }
                exists
            });
            let target =
                self.string(&m, "target").and_then(|target| match mount_target_problem(&target) {
                    None => Some(PathBuf::from(target)),
                    Some(reason) => {
                        let problem =
                            Problem::BadMountTarget { key: m.key("target"), target, reason };
                        self.report(problem, m.span_of("target"));
                        None
                    }
                });
            let read_only = match m.get("read_only") {
                None => false,
                Some(v) => match v.get_ref().as_bool() {
                    Some(b) => b,
                    None => {
                        let found = v.get_ref().type_str();
                        let problem = Problem::WrongType {
                            key: m.key("read_only"),
                            expected: "true or false",
                            found,
                        };
                        self.report(problem, v.span());
                        false
                    }
                },
            };
            if let (Some(source), Some(target)) = (source, target) {
                mounts.push(MountSpec { source, target, read_only });
            }
        }
        Some(mounts)
    }

    fn env_file(&mut self, t: &Table<'_, '_>) -> Option<EnvFile> {
        let path = self.path(t, "env_file")?;
        let key = t.key("env_file");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) => {
                self.report(
                    Problem::EnvFileUnreadable { key, path, source },
                    t.span_of("env_file"),
                );
                return None;
            }
        };
        match parse_env_file(&text) {
            Ok(vars) => Some(EnvFile { path, vars }),
            Err(e) => {
                let problem = Problem::BadEnvFileLine { key, path, line: e.line, reason: e.reason };
                self.report(problem, t.span_of("env_file"));
                None
            }
        }
    }

    fn inherit_env(&mut self, t: &Table<'_, '_>) -> Option<Vec<EnvPattern>> {
        let entries = self.strings(t, "inherit_env")?;
        let mut patterns = Vec::new();
        for entry in entries {
            match EnvPattern::parse(&entry) {
                Some(p) => patterns.push(p),
                None => {
                    let problem = Problem::BadEnvName {
                        key: t.key("inherit_env"),
                        value: entry,
                        expected: "a variable name or a prefix ending in `*` (\"AWS_*\")",
                    };
                    self.report(problem, t.span_of("inherit_env"));
                }
            }
        }
        Some(patterns)
    }
}

/// Why `target` cannot be a mount point inside the box, if it cannot.
fn mount_target_problem(target: &str) -> Option<&'static str> {
    let path = Path::new(target);
    if !path.is_absolute() {
        return Some("is not absolute");
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Some("contains `..`");
    }
    if path.components().all(|c| matches!(c, Component::RootDir | Component::CurDir)) {
        return Some("is the root; mount below it");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::mount_target_problem;

    #[test]
    fn mount_targets_are_clean_absolute_paths_below_the_root() {
        assert_eq!(mount_target_problem("/data"), None);
        assert_eq!(mount_target_problem("/srv/app/models"), None);
        assert_eq!(mount_target_problem("data"), Some("is not absolute"));
        assert_eq!(mount_target_problem("/"), Some("is the root; mount below it"));
        assert_eq!(mount_target_problem("/data/../etc"), Some("contains `..`"));
    }
}
