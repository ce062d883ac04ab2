//! The validated spec: what the engine, daemon and CLI consume.
//!
//! [`Spec`] is the root; every value in it has been checked, defaulted and
//! resolved (paths absolute, limits merged over defaults, dependencies known
//! and acyclic), so consumers never re-validate. How text becomes a `Spec`
//! lives in `crate::read`.

mod alert;
mod cluster;
mod daemon;
mod environment;
mod job;
mod logs;
mod monitor;
mod pool;
mod probe;
mod schedule;
mod service;
mod walls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stockade_proto::Limits;

pub use alert::{
    ALERT_OPS, ALERT_SIGNAL_NAMES, ALERT_SIGNALS, AlertOp, AlertSignal, AlertSpec, PsiResource,
    SignalNeeds,
};
pub use cluster::{
    ClusterConfig, DEFAULT_HEARTBEAT, DEFAULT_LOST_AFTER, DEFAULT_MAX_CLOCK_SKEW, DEFAULT_POLL,
    DEFAULT_STOP_AFTER, STOCKADE_DATABASE, redact,
};
pub use daemon::{
    DEFAULT_EVENT_RETENTION, DEFAULT_HEADER_TIMEOUT, DEFAULT_ID_RANGE, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_SIZE, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_PEER, DEFAULT_RESERVE_FDS, DEFAULT_RESERVE_MEMORY,
    DEFAULT_RESERVE_TASKS, DEFAULT_WORKSPACE_RETENTION, DaemonConfig, IdRange, Listen, OnStop,
    SocketGroup, Synchronous,
};
pub use environment::{
    EnvFile, EnvFileLineError, EnvPattern, FORBIDDEN_SUBMIT_ENV, FORBIDDEN_SUBMIT_PREFIXES,
    forbidden_submit_env, parse_env_file, valid_env_name,
};
pub use job::{JobSpec, OnInterrupt, RETRYABLE_CAUSES, Retries};
pub use logs::{DEFAULT_LOG_MAX_AGE, DEFAULT_POSTMORTEM_RETENTION, LogsConfig, MIN_LOGS_MAX_SIZE};
pub use monitor::{
    DEFAULT_CRITICAL_PERCENT, DEFAULT_HYSTERESIS_PERCENT, DEFAULT_LEAK_HORIZON,
    DEFAULT_LEAK_MIN_SPAN, DEFAULT_MAX_RESTARTS, DEFAULT_MONITOR_INTERVAL, DEFAULT_RESTART_WINDOW,
    DEFAULT_WARNING_PERCENT, DEFAULT_WEBHOOK_ATTEMPTS, DEFAULT_WEBHOOK_BACKOFF,
    DEFAULT_WEBHOOK_QUEUE, DEFAULT_WEBHOOK_TIMEOUT, MonitorConfig, Thresholds, WebhookConfig,
};
pub use pool::{Concurrency, DEFAULT_MAX_QUEUED, DEFAULT_POOL, DEFAULT_POOL_CONCURRENCY, PoolSpec};
pub use probe::{ProbeCheck, ProbeSpec};
pub(crate) use probe::{parse_host_port, parse_http_url};
pub use schedule::{
    CatchUp, Overlap, Schedule, ScheduleError, ScheduleRule, parse_cron, parse_timezone,
};
pub use service::{
    Backoff, Dependency, DependsOn, RestartPolicy, ServiceSpec, StartLimit, StopSpec,
};
pub use walls::{DEFAULT_TMP_SIZE, Isolation, MountSpec, NetworkMode, UserSpec, WallsSpec};

use crate::error::SpecError;

/// A parsed, validated `stockade.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The spec file as given.
    pub path: PathBuf,
    /// The absolute directory relative paths in the spec are resolved against.
    pub base_dir: PathBuf,
    /// `[daemon]`.
    pub daemon: DaemonConfig,
    /// `[logs]`: how long run logs and post-mortems are kept.
    pub logs: LogsConfig,
    /// `[monitor]`: usage alerts, the restart-rate alert and the webhook.
    pub monitor: MonitorConfig,
    /// `[cluster]` (or `$STOCKADE_DATABASE`): a member of a cluster sharing
    /// one PostgreSQL queue; `None`: one host on SQLite.
    pub cluster: Option<ClusterConfig>,
    /// Default limits of every box: built-in values, then `[defaults.limits]`,
    /// then `STOCKADE_DEFAULT_*` environment variables, each overriding the last.
    pub defaults: Limits,
    /// Pools by name; always contains `default`.
    pub pools: BTreeMap<String, PoolSpec>,
    /// Services in file order.
    pub services: Vec<ServiceSpec>,
    /// Job templates by name.
    pub jobs: BTreeMap<String, JobSpec>,
    /// `[alert.NAME]` rules in file order.
    pub alerts: Vec<AlertSpec>,
    /// What `stockade check` warns about (undefined `${VAR}`s), in file order.
    pub warnings: Vec<crate::SpecWarning>,
}

impl Spec {
    /// Read and validate the spec at `path`, with `STOCKADE_DEFAULT_*` and
    /// `token_env` taken from the process environment.
    pub fn from_file(path: &Path) -> Result<Spec, SpecError> {
        let source =
            std::fs::read_to_string(path).map_err(|source| SpecError::read(path, source))?;
        Spec::parse(&source, path, &|name| std::env::var(name).ok())
    }

    /// Validate `source` as if read from `path`, looking environment variables up
    /// through `env` (tests pass a closure over a map). Reports every semantic
    /// error at once; a TOML syntax error stops at the first.
    pub fn parse(
        source: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Spec, SpecError> {
        crate::read::read(source, path, env)
    }

    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The job template called `name`.
    pub fn job(&self, name: &str) -> Option<&JobSpec> {
        self.jobs.get(name)
    }

    /// Service names in start order: every service after the services it depends
    /// on; among services free to start, file order. (Stop in the reverse order.)
    pub fn start_order(&self) -> Vec<&str> {
        let mut done: Vec<&str> = Vec::with_capacity(self.services.len());
        let mut pending: Vec<&ServiceSpec> = self.services.iter().collect();
        while !pending.is_empty() {
            let ready = pending
                .iter()
                .position(|s| s.depends_on.iter().all(|d| done.contains(&d.service.as_str())));
            // A validated spec has no cycles; should one slip through, emit the
            // rest in file order rather than loop forever.
            let next = pending.remove(ready.unwrap_or(0));
            done.push(&next.name);
        }
        done
    }
}
