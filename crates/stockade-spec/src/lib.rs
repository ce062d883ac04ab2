//! `stockade.toml`, parsed strictly: the spec file of DESIGN.md §2 as a typed,
//! validated [`Spec`].
//!
//! Start at [`Spec::parse`] / [`Spec::from_file`]. Text becomes spanned TOML
//! values, which `read` walks table by table, reporting *every* problem (unknown
//! keys with "did you mean", bad durations and sizes, unknown or cyclic
//! dependencies, …) as a [`SpecDiagnostic`] with its place in the file; they
//! come back together as one [`SpecError`], whose [`SpecError::render`] draws
//! them with the offending text underlined. `model` holds the validated types
//! the engine consumes; `schema` the JSON Schema published at
//! `schema/stockade.schema.json`; [`STARTER_SPEC`] is what `stockade init` writes;
//! [`diff`] is the plan of a reload from one spec to another.
//!
//! Value syntax: durations are strings with units (`"100ms"`, `"5m"`,
//! `"1h30m"`, see [`parse_duration`]); sizes are strings with binary or decimal
//! units or integers of bytes (`"512MiB"`, `"1G"`, `4096`, see [`parse_size`]);
//! limits may be `"unlimited"`. Relative paths are resolved against the spec
//! file's directory. `{replica}` / `{replica+N}` in a service's command, env
//! values and probes expand per replica ([`expand_replica`]).
//!
//! ```
//! use std::path::Path;
//! use stockade_spec::Spec;
//!
//! let text = r#"
//! [service.player]
//! command = ["python3", "player.py", "--port", "{replica+9100}"]
//! replicas = 22
//! limits = { memory = "128MiB", pids = 32 }
//! "#;
//! let spec = Spec::parse(text, Path::new("/srv/game/stockade.toml"), &|_| None).unwrap();
//! let player = spec.service("player").unwrap();
//! assert_eq!(player.replicas, 22);
//! assert_eq!(player.limits.memory, Some(128 << 20));
//! assert_eq!(player.for_replica(3).command[3], "9103");
//!
//! let typo = Spec::parse("[service.x]\ncomand = [\"true\"]\n", Path::new("s.toml"), &|_| None);
//! assert!(typo.unwrap_err().render().contains("did you mean `command`?"));
//! ```

#![deny(missing_docs)]

mod box_env;
mod diff;
mod duration;
mod error;
mod interpolate;
mod model;
mod problem;
mod read;
mod replica;
mod schema;
mod size;
mod starter;
mod suggest;
mod unit_env;

pub use box_env::{
    BoxEnvDefaults, BoxEnvSources, DEFAULT_HOME, DEFAULT_LANG, DEFAULT_PATH, DEFAULT_TERM, box_env,
};
pub use diff::{diff, limit_changes};
pub use duration::{DurationError, format_duration, parse_duration};
pub use error::{SpecDiagnostic, SpecError, SpecWarning};
pub use model::{
    ALERT_OPS, ALERT_SIGNAL_NAMES, ALERT_SIGNALS, AlertOp, AlertSignal, AlertSpec, Backoff,
    CatchUp, ClusterConfig, Concurrency, DEFAULT_CRITICAL_PERCENT, DEFAULT_EVENT_RETENTION,
    DEFAULT_HEARTBEAT, DEFAULT_HYSTERESIS_PERCENT, DEFAULT_ID_RANGE, DEFAULT_LEAK_HORIZON,
    DEFAULT_LEAK_MIN_SPAN, DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_AGE, DEFAULT_LOG_MAX_SIZE,
    DEFAULT_LOST_AFTER, DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_QUEUED, DEFAULT_MAX_RESTARTS,
    DEFAULT_MONITOR_INTERVAL, DEFAULT_POLL, DEFAULT_POOL, DEFAULT_POOL_CONCURRENCY,
    DEFAULT_POSTMORTEM_RETENTION, DEFAULT_RESERVE_MEMORY, DEFAULT_RESERVE_TASKS,
    DEFAULT_RESTART_WINDOW, DEFAULT_STOP_AFTER, DEFAULT_TMP_SIZE, DEFAULT_WARNING_PERCENT,
    DEFAULT_WEBHOOK_ATTEMPTS, DEFAULT_WEBHOOK_BACKOFF, DEFAULT_WEBHOOK_QUEUE,
    DEFAULT_WEBHOOK_TIMEOUT, DEFAULT_WORKSPACE_RETENTION, DaemonConfig, Dependency, DependsOn,
    EnvFile, EnvFileLineError, EnvPattern, FORBIDDEN_SUBMIT_ENV, FORBIDDEN_SUBMIT_PREFIXES,
    IdRange, Isolation, JobSpec, Listen, LogsConfig, MonitorConfig, MountSpec, NetworkMode,
    OnInterrupt, OnStop, Overlap, PoolSpec, ProbeCheck, ProbeSpec, PsiResource, RETRYABLE_CAUSES,
    RestartPolicy, Retries, STOCKADE_DATABASE, Schedule, ScheduleError, ScheduleRule, ServiceSpec,
    SignalNeeds, SocketGroup, Spec, StartLimit, StopSpec, Synchronous, Thresholds, UserSpec,
    WallsSpec, WebhookConfig, forbidden_submit_env, parse_cron, parse_env_file, parse_timezone,
    redact, valid_env_name,
};
pub use problem::Problem;
pub use read::builtin_defaults;
pub use replica::{PlaceholderError, expand_replica};
pub use schema::json_schema;
pub use size::{SizeError, parse_size};
pub use starter::STARTER_SPEC;
pub use stockade_proto::Limits;
