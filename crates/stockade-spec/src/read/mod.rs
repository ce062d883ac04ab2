//! From TOML text to a validated [`Spec`](crate::Spec), collecting every problem.
//!
//! [`read`] parses the text once into spanned TOML values, then walks them
//! table by table with a [`table::Reader`] that records a diagnostic for each
//! problem and carries on with a default, so one run reports everything.
//! One file per table kind; `graph` holds the checks that span units (names,
//! dependencies, pools). The key lists (`*_KEYS`) are the single truth of what
//! is valid where; the JSON schema is tested against them.

mod alert;
mod cluster;
mod daemon;
mod graph;
mod job;
mod limits;
mod logs;
mod monitor;
mod pool;
mod probe;
mod service;
mod table;
mod walls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use limits::builtin_defaults;
// The key lists, for the test that holds the JSON schema to them.
pub(crate) use {
    alert::ALERT_KEYS, cluster::CLUSTER_KEYS, daemon::DAEMON_KEYS, job::JOB_KEYS, logs::LOGS_KEYS,
    monitor::MONITOR_KEYS, pool::POOL_KEYS, service::SERVICE_KEYS,
};
#[cfg(test)]
pub(crate) use {
    job::RETRIES_KEYS,
    limits::LIMITS_KEYS,
    probe::PROBE_KEYS,
    service::{BACKOFF_KEYS, START_LIMIT_KEYS, STOP_KEYS},
    walls::MOUNT_KEYS,
};

use crate::error::{SpecDiagnostic, SpecError};
use crate::model::{DEFAULT_POOL, PoolSpec, Spec};
use crate::problem::Problem;
use table::{Reader, Table};

pub(crate) const ROOT_KEYS: &[&str] =
    &["daemon", "logs", "defaults", "monitor", "cluster", "pool", "service", "job", "alert"];
pub(crate) const DEFAULTS_KEYS: &[&str] = &[
    "limits",
    "isolation",
    "user",
    "network",
    "rootfs",
    "tmp",
    "mounts",
    "env_file",
    "inherit_env",
];

/// Parse and validate `source`, read from `path`.
pub(crate) fn read(
    source: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Spec, SpecError> {
    let mut root = match toml::de::DeTable::parse(source) {
        Ok(root) => root,
        Err(e) => {
            let problem = Problem::Syntax { message: e.message().trim_end().to_owned() };
            let span = e.span().unwrap_or(0..0);
            return Err(SpecError::new(
                path,
                source,
                vec![SpecDiagnostic::new(problem, Some(span))],
            ));
        }
    };
    let mut diagnostics = Vec::new();
    let mut found = Vec::new();
    let vars = crate::interpolate::Vars::new(env, &base_dir(path), &mut diagnostics);
    crate::interpolate::table(root.get_mut(), &vars, &mut diagnostics, &mut found);
    let mut reader = Reader { diagnostics, env, base_dir: base_dir(path) };
    let root_value = toml::Spanned::new(0..0, toml::de::DeValue::Table(root.into_inner()));
    let spec = reader
        .open(String::new(), 0..0, &root_value, ROOT_KEYS)
        .map(|root| reader.spec(&root, path));
    match spec {
        Some(mut spec) if reader.diagnostics.is_empty() => {
            spec.warnings = crate::interpolate::place(source, found);
            Ok(spec)
        }
        _ => Err(SpecError::new(path, source, reader.diagnostics)),
    }
}

/// The absolute directory of the spec file. Not canonicalized: the file need
/// not exist (tests), and symlinked project directories should stay as named.
fn base_dir(path: &Path) -> PathBuf {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::path::absolute(parent).unwrap_or_else(|_| parent.to_owned())
}

/// Names of services, jobs and pools become cgroup directory names and URL
/// path segments, hence the narrow alphabet.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Reader<'_> {
    fn spec(&mut self, root: &Table<'_, '_>, path: &Path) -> Spec {
        let daemon_table = self.sub(root, "daemon", DAEMON_KEYS);
        let daemon = self.daemon(daemon_table.as_ref());
        let logs_table = self.sub(root, "logs", LOGS_KEYS);
        let logs = self.logs(logs_table.as_ref());
        let monitor_table = self.sub(root, "monitor", MONITOR_KEYS);
        let monitor = self.monitor(monitor_table.as_ref());
        let cluster_table = self.sub(root, "cluster", CLUSTER_KEYS);
        let cluster = self.cluster(cluster_table.as_ref());

        let defaults_table = self.sub(root, "defaults", DEFAULTS_KEYS);
        let spec_defaults = match &defaults_table {
            Some(d) => self.limits(d, "limits"),
            None => Default::default(),
        };
        let box_defaults = self.box_defaults(defaults_table.as_ref());
        let defaults = self.env_limits().apply(&spec_defaults.apply(&builtin_defaults()));

        let mut pools = BTreeMap::new();
        for (name, t) in self.units(root, "pool", POOL_KEYS) {
            let pool = self.pool(&name, &t);
            pools.insert(name, pool);
        }
        pools.entry(DEFAULT_POOL.to_owned()).or_insert_with(PoolSpec::implicit_default);

        let services: Vec<_> = self
            .units(root, "service", SERVICE_KEYS)
            .into_iter()
            .map(|(name, t)| self.service(&t, &name, &defaults, &box_defaults))
            .collect();
        let jobs: Vec<_> = self
            .units(root, "job", JOB_KEYS)
            .into_iter()
            .map(|(name, t)| self.job(&t, &name, &defaults, &box_defaults))
            .collect();

        self.check_names(&services, &jobs);
        self.check_dependencies(&services, &jobs);
        self.check_pools(&jobs, &pools);

        let targets = alert::Targets {
            pools: pools.keys().map(String::as_str).collect(),
            services: services.iter().map(|s| s.spec.name.as_str()).collect(),
            templates: jobs.iter().map(|j| j.spec.name.as_str()).collect(),
        };
        let alerts = self
            .units(root, "alert", ALERT_KEYS)
            .into_iter()
            .filter_map(|(name, t)| self.alert(&name, &t, &targets))
            .collect();

        Spec {
            path: path.to_owned(),
            base_dir: self.base_dir.clone(),
            daemon,
            logs,
            monitor,
            cluster,
            defaults,
            pools,
            services: services.into_iter().map(|s| s.spec).collect(),
            jobs: jobs.into_iter().map(|j| (j.spec.name.clone(), j.spec)).collect(),
            alerts,
            warnings: Vec::new(),
        }
    }

    /// The named tables under `kind` (`[service.NAME]`), in file order, with
    /// invalid names reported and skipped.
    fn units<'a, 'i>(
        &mut self,
        root: &Table<'a, 'i>,
        kind: &str,
        known: &'static [&'static str],
    ) -> Vec<(String, Table<'a, 'i>)> {
        let Some(map) = self.sub_map(root, kind) else { return Vec::new() };
        let mut out = Vec::new();
        for (name, span, value) in map.entries() {
            if !valid_name(name) {
                self.report(Problem::BadName { name: name.to_owned() }, span);
                continue;
            }
            if let Some(t) = self.open(format!("{kind}.{name}"), span, value, known) {
                out.push((name.to_owned(), t));
            }
        }
        out
    }
}
