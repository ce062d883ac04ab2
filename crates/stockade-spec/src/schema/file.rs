//! The spec's tables as serde/schemars types: the source of the JSON Schema.
//!
//! These types are not how the spec is read (see `read`, which collects every
//! error with its span); they describe it. Their field lists are tested against
//! the reader's key lists, and every example spec must deserialize into them.

// Fields exist to be described by the schema and checked by deserialization,
// never read.
#![allow(dead_code)]

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::values::{Concurrency, CountLimit, CpuLimit, Duration, Signal, Size, SizeLimit};

/// `stockade.toml`: the services, job templates, pools and defaults of one stockade daemon.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "stockade.toml")]
pub(crate) struct SpecFile {
    /// Where the daemon keeps its state and where it listens.
    daemon: Option<DaemonTable>,
    /// How long the logs and post-mortems of runs are kept (default: logs 7 days, no size bound; post-mortems 30 days).
    logs: Option<LogsTable>,
    /// Defaults for every box.
    defaults: Option<DefaultsTable>,
    /// Usage alerts, the restart-rate alert and the webhook (on by default, no webhook).
    monitor: Option<MonitorTable>,
    /// Membership of a cluster of stockade hosts sharing one PostgreSQL job queue (absent, and no $STOCKADE_DATABASE: one host on SQLite).
    cluster: Option<ClusterTable>,
    /// Admission domains for jobs, by name. The pool `default` always exists (max_concurrency = 4 unless declared).
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": super::values::NAME_PATTERN }))]
    pool: BTreeMap<String, PoolTable>,
    /// Long-running agents, by name (names are shared with jobs).
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": super::values::NAME_PATTERN }))]
    service: BTreeMap<String, ServiceTable>,
    /// Job templates, by name (names are shared with services).
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": super::values::NAME_PATTERN }))]
    job: BTreeMap<String, JobTable>,
    /// Alert rules over named signals, by name: firing and resolving as events, on /metrics and through the webhook.
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": super::values::NAME_PATTERN }))]
    alert: BTreeMap<String, AlertTable>,
}

/// `[alert.NAME]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertTable {
    /// The signal: queue_depth and running (need `pool`); failures and successes (need `template` and `window`); restarts (needs `service` and `window`); headroom_memory (bytes free above reserve_memory), headroom_pids; psi_{cpu,memory,io}_{some,full} (avg10 percent).
    #[schemars(extend("enum" = crate::model::ALERT_SIGNAL_NAMES))]
    signal: String,
    /// The pool of queue_depth and running.
    pool: Option<String>,
    /// The service of restarts.
    service: Option<String>,
    /// The job template of failures and successes.
    template: Option<String>,
    /// The window a count signal (failures, successes, restarts) counts over.
    window: Option<Duration>,
    /// How the signal is compared with `value`.
    #[schemars(extend("enum" = crate::model::ALERT_OPS))]
    op: String,
    /// The threshold: a count, a percent for PSI, bytes (or a size string) for headroom_memory.
    value: AlertValue,
    /// How long the comparison must hold before the rule fires (default "0s": at once).
    #[serde(rename = "for")]
    for_: Option<Duration>,
}

/// An alert threshold: a number, or a size string for headroom_memory.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum AlertValue {
    /// A number.
    Number(f64),
    /// A size such as "1GiB".
    Size(Size),
}

/// `[daemon]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DaemonTable {
    /// Store, logs and socket directory, relative to the spec file (default ".stockade").
    state_dir: Option<String>,
    /// "unix:PATH" or "tcp:IP:PORT" entries (default: unix:<state_dir>/stockade.sock). Every TCP listener, loopback included, needs a token.
    listen: Option<Vec<String>>,
    /// Bearer token for API clients (prefer token_env).
    token: Option<String>,
    /// Name of an environment variable holding the bearer token.
    token_env: Option<String>,
    /// File holding the bearer token (mode 0600), relative to the spec file. Without token, token_env or token_file, $STOCKADE_TOKEN is used.
    token_file: Option<String>,
    /// Group that may use the Unix socket (mode 0660, like the docker group); default: owner only (0600).
    socket_group: Option<String>,
    /// Host uids/gids for the boxes' user namespaces, "FIRST-LAST" inclusive (default "2147483648-4294901759"; at least 65536 ids, below 4294967295).
    #[schemars(regex(pattern = r"^[0-9]+-[0-9]+$"))]
    id_range: Option<String>,
    /// Rotate log files at this size (default "10MiB", at least 4KiB).
    log_max_size: Option<Size>,
    /// Rotated log files kept (default 3).
    #[schemars(range(min = 0))]
    log_keep: Option<u32>,
    /// Number of newest events the store keeps (default 100000, at least 1000).
    #[schemars(range(min = 1000))]
    event_retention: Option<u64>,
    /// How long the workspace of an ended walled run is kept for the post-mortem before it is removed (default "7d").
    workspace_retention: Option<Duration>,
    /// MemAvailable kept free when admitting jobs (default "1GiB").
    reserve_memory: Option<Size>,
    /// Tasks kept free under kernel.threads-max / kernel.pid_max when admitting jobs (default 2048).
    reserve_tasks: Option<u64>,
    /// "full" (default: every commit is fsynced, acknowledged work survives power loss) or "normal" (survives a daemon crash; faster).
    synchronous: Option<String>,
    /// What a plain stop (SIGTERM, `stockade down`) does to running jobs: "requeue" (default: stop them and queue them again) or "leave" (leave them running for the next daemon to adopt).
    on_stop: Option<String>,
    /// Open API connections per listener (default 512); more are refused with a 503.
    #[schemars(range(min = 1))]
    max_connections: Option<u32>,
    /// Open API connections per peer: a uid on the Unix socket, an IP address on TCP (default 64).
    #[schemars(range(min = 1))]
    max_connections_per_peer: Option<u32>,
    /// Close a connection with no request in flight and no byte moved for this long (default "60s").
    idle_timeout: Option<Duration>,
    /// A request's headers must arrive within this, or the connection is closed (default "10s").
    header_timeout: Option<Duration>,
    /// File descriptors below RLIMIT_NOFILE the API never takes, kept for spawning and the store (default 1024).
    reserve_fds: Option<u32>,
}

/// `[logs]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsTable {
    /// Delete a log file (live or rotated) of a run that ended longer ago than this, and a rotated file last written longer ago (default "7d").
    max_age: Option<Duration>,
    /// The most all stored log files may take together, at least "1MiB"; past it the oldest files of ended runs go first, never a live run's live file (default "unlimited").
    max_size: Option<SizeLimit>,
    /// Delete the post-mortem of a run that ended longer ago than this, unless its job is still queued or running (default "30d").
    postmortem_retention: Option<Duration>,
}

/// `[cluster]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterTable {
    /// postgres:// URL (or libpq key=value pairs) of the shared queue; $STOCKADE_DATABASE when absent.
    database: Option<String>,
    /// This member's name, unique in the cluster (default: the machine's hostname).
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    host: Option<String>,
    /// Time between lease renewals: one statement renews the host's lease and its jobs' (default "2s").
    heartbeat: Option<Duration>,
    /// A member that could not renew its lease for this long stops its own runs (default "10s"; at least twice heartbeat).
    stop_after: Option<Duration>,
    /// The leader re-queues a member's jobs once its lease is this old (default "20s"; at least stop_after + max_clock_skew + heartbeat).
    lost_after: Option<Duration>,
    /// Clock difference between members the lease arithmetic tolerates (default "2s").
    max_clock_skew: Option<Duration>,
    /// Time between claims when no notification arrives (default "1s").
    poll: Option<Duration>,
}

/// `[monitor]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MonitorTable {
    /// Watch usage and restart rates (default true).
    enabled: Option<bool>,
    /// Time between usage samples (default "5s", at least 100ms).
    interval: Option<Duration>,
    /// Percent of a limit (cpus, memory, pids) that raises a warning alert (default 80).
    #[schemars(range(min = 0.0, max = 100.0))]
    warning: Option<f64>,
    /// Percent of a limit that raises a critical alert (default 95, above warning).
    #[schemars(range(min = 0.0, max = 100.0))]
    critical: Option<f64>,
    /// An alert clears below warning minus this many percentage points (default 10).
    #[schemars(range(min = 0.0, max = 100.0))]
    hysteresis: Option<f64>,
    /// More restarts of one service than this within restart_window raise an alert (default 3).
    #[schemars(range(min = 1))]
    max_restarts: Option<u32>,
    /// The window of the restart-rate alert (default "1h").
    restart_window: Option<Duration>,
    /// The leak detector raises an alert when a service replica's memory trend reaches its limit within this long (default "6h").
    leak_horizon: Option<Duration>,
    /// The leak detector judges a replica's memory trend only once its samples span this long; make it longer than the agents' garbage-collection cycle (default "10m").
    leak_min_span: Option<Duration>,
    /// Plain http:// URL that receives each alert and abnormal exit as a JSON POST.
    #[schemars(regex(pattern = r"^http://"))]
    webhook: Option<String>,
    /// Name of an environment variable holding a bearer token for the webhook.
    webhook_token_env: Option<String>,
    /// Per-attempt timeout (default "5s").
    webhook_timeout: Option<Duration>,
    /// Attempts per event, the first included (default 5, at most 20).
    #[schemars(range(min = 1, max = 20))]
    webhook_attempts: Option<u32>,
    /// Delay before the first retry, doubled after each (default "1s").
    webhook_backoff: Option<Duration>,
    /// Events waiting for delivery; beyond it the oldest is dropped (default 1000).
    #[schemars(range(min = 1))]
    webhook_queue: Option<u32>,
}

/// `[defaults]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DefaultsTable {
    /// Limits of every box unless a unit overrides them. Built in: cpus = 1.0, memory = "2GiB", pids = 1000, nofile = 65535; STOCKADE_DEFAULT_* environment variables override these.
    limits: Option<LimitsTable>,
    /// "walls" (default: own user, pid, mount, ipc and uts namespaces, host root read-only, clean environment) or "none" (trusted legacy agents: cgroup limits only, the daemon's environment; flagged UNWALLED by status and ps).
    isolation: Option<Isolation>,
    /// Who the agent runs as inside the box: a user name or a uid (default: root of the box's user namespace, an unprivileged host id).
    user: Option<User>,
    /// "host" (default) or "none" (own network namespace, loopback only).
    network: Option<Network>,
    /// Directory used as the box's / instead of the host's (read-only, shared), relative to the spec file; it must hold the command.
    rootfs: Option<String>,
    /// Size of the box's private /tmp (default "256MiB", at least 1MiB; charged to its memory limit).
    tmp: Option<Size>,
    /// Host paths made visible in the box, e.g. [{ source = "data", target = "/data", read_only = true }].
    mounts: Option<Vec<MountTable>>,
    /// File of KEY=VALUE lines (# comments) added to the box's environment, relative to the spec file.
    env_file: Option<String>,
    /// Daemon environment variables the box may see: names or prefixes ending in * ("AWS_*"). Nothing else of the daemon's environment reaches a walled box.
    inherit_env: Option<Vec<String>>,
}

/// The limits of one box.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsTable {
    /// CPU quota in CPUs.
    cpus: Option<CpuLimit>,
    /// Hard memory limit (at least 1MiB).
    memory: Option<SizeLimit>,
    /// Memory throttling threshold (cgroup v2 memory.high, at least 1MiB).
    memory_high: Option<SizeLimit>,
    /// Maximum tasks (processes and threads) in the box: what stops fork bombs.
    pids: Option<CountLimit>,
    /// RLIMIT_NOFILE.
    nofile: Option<CountLimit>,
    /// RLIMIT_NPROC (counted per user, not per box).
    nproc: Option<CountLimit>,
    /// RLIMIT_CORE; 0 disables core dumps.
    core: Option<SizeLimit>,
}

/// `[pool.NAME]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoolTable {
    /// Jobs of this pool running at once.
    max_concurrency: Option<Concurrency>,
    /// Lower bound with max_concurrency = "auto" (default 1).
    #[schemars(range(min = 1))]
    min: Option<u32>,
    /// Upper bound with max_concurrency = "auto" (default 4 × CPUs).
    #[schemars(range(min = 1))]
    max: Option<u32>,
    /// Queued jobs beyond this are rejected (default 10000).
    #[schemars(range(min = 1))]
    max_queued: Option<u64>,
    /// A job not started within this time expires.
    queue_timeout: Option<Duration>,
}

/// `isolation`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Isolation {
    /// A real sandbox (default).
    Walls,
    /// No walls: trusted legacy agents only.
    None,
}

/// `network`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Network {
    /// The host's network (default).
    Host,
    /// Loopback only.
    None,
}

/// `user`: a name or a uid inside the box.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum User {
    /// A user name.
    Name(String),
    /// A uid.
    Id(u32),
}

/// One entry of `mounts`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MountTable {
    /// Host path, relative to the spec file; must exist.
    source: String,
    /// Absolute path inside the box (not /, no ..).
    #[schemars(regex(pattern = r"^/."))]
    target: String,
    /// Mount read-only (default false).
    read_only: Option<bool>,
}

/// Restart policy.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Restart {
    /// Never restart.
    Never,
    /// Restart when the run did not succeed per exit_codes (default).
    OnFailure,
    /// Always restart, unless stopped by a user.
    Always,
    /// Like always, and a user's stop survives daemon restarts.
    UnlessStopped,
}

/// A dependency condition.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Condition {
    /// Its process was spawned.
    Started,
    /// Its readiness probe passed.
    Ready,
    /// It ended.
    Completed,
    /// It ended with a success exit code.
    CompletedSuccessfully,
}

/// `[service.NAME]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceTable {
    /// argv, e.g. ["python3", "agent.py"]; no shell. {replica} / {replica+N} expand per replica.
    #[schemars(length(min = 1))]
    command: Vec<String>,
    /// Extra environment; values may use {replica}.
    env: Option<BTreeMap<String, String>>,
    /// Working directory, relative to the spec file.
    cwd: Option<String>,
    /// When to restart (default "on-failure").
    restart: Option<Restart>,
    /// Exit codes that count as success (default [0]).
    #[schemars(length(min = 1))]
    exit_codes: Option<Vec<u8>>,
    /// Delay between restarts.
    backoff: Option<BackoffTable>,
    /// More than burst starts within interval: give up (visibly).
    start_limit: Option<StartLimitTable>,
    /// How to stop the service.
    stop: Option<StopTable>,
    /// Gates the ready state.
    readiness: Option<ProbeTable>,
    /// Failures end the run as liveness_failed.
    liveness: Option<ProbeTable>,
    /// Limits of each replica's box, over the defaults.
    limits: Option<LimitsTable>,
    /// Number of copies (default 1).
    #[schemars(range(min = 1))]
    replicas: Option<u32>,
    /// Services to wait for, e.g. { db = "ready" }.
    #[schemars(extend("propertyNames" = { "pattern": super::values::NAME_PATTERN }))]
    depends_on: Option<BTreeMap<String, Condition>>,
    /// "walls" (default: own user, pid, mount, ipc and uts namespaces, host root read-only, clean environment) or "none" (trusted legacy agents: cgroup limits only, the daemon's environment; flagged UNWALLED by status and ps).
    isolation: Option<Isolation>,
    /// Who the agent runs as inside the box: a user name or a uid (default: root of the box's user namespace, an unprivileged host id).
    user: Option<User>,
    /// "host" (default) or "none" (own network namespace, loopback only).
    network: Option<Network>,
    /// Directory used as the box's / instead of the host's (read-only, shared), relative to the spec file; it must hold the command.
    rootfs: Option<String>,
    /// Size of the box's private /tmp (default "256MiB", at least 1MiB; charged to its memory limit).
    tmp: Option<Size>,
    /// Host paths made visible in the box, e.g. [{ source = "data", target = "/data", read_only = true }].
    mounts: Option<Vec<MountTable>>,
    /// File of KEY=VALUE lines (# comments) added to the box's environment, relative to the spec file.
    env_file: Option<String>,
    /// Daemon environment variables the box may see: names or prefixes ending in * ("AWS_*"). Nothing else of the daemon's environment reaches a walled box.
    inherit_env: Option<Vec<String>>,
}

/// Exponential backoff between restarts.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackoffTable {
    /// First delay (default "100ms").
    initial: Option<Duration>,
    /// Cap (default "30s").
    max: Option<Duration>,
    /// Growth per restart (default 2.0).
    #[schemars(range(min = 1.0))]
    factor: Option<f64>,
    /// Random spread as a fraction (default 0.2).
    #[schemars(range(min = 0.0, max = 1.0))]
    jitter: Option<f64>,
}

/// The restart circuit breaker.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartLimitTable {
    /// Starts allowed per interval (default 5).
    #[schemars(range(min = 1))]
    burst: Option<u32>,
    /// The window (default "60s").
    interval: Option<Duration>,
}

/// Stop: signal, grace, then kill the box.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StopTable {
    /// Signal sent to every process in the box (default "SIGTERM").
    signal: Option<Signal>,
    /// Time before the box is killed (default "10s").
    grace: Option<Duration>,
}

/// A probe: exactly one of exec, http, tcp.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{ "required": ["exec"] }, { "required": ["http"] }, { "required": ["tcp"] }]))]
pub(crate) struct ProbeTable {
    /// Command run in the agent's box; exit 0 is success.
    #[schemars(length(min = 1))]
    exec: Option<Vec<String>>,
    /// Plain http:// URL; 2xx/3xx is success. May use {replica+N} for per-replica ports.
    #[schemars(regex(pattern = r"^http://"))]
    http: Option<String>,
    /// HOST:PORT to connect to.
    tcp: Option<String>,
    /// Time between checks (default "5s").
    period: Option<Duration>,
    /// Per-check timeout (default "1s").
    timeout: Option<Duration>,
    /// Consecutive failures that count (default 3).
    #[schemars(range(min = 1))]
    failure_threshold: Option<u32>,
    /// Consecutive successes that count (default 1).
    #[schemars(range(min = 1))]
    success_threshold: Option<u32>,
    /// Delay before the first check (default "0s").
    initial_delay: Option<Duration>,
}

/// `[job.NAME]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobTable {
    /// argv; submitted args are appended.
    #[schemars(length(min = 1))]
    command: Vec<String>,
    /// Extra environment.
    env: Option<BTreeMap<String, String>>,
    /// Working directory, relative to the spec file.
    cwd: Option<String>,
    /// Pool to queue in (default "default").
    pool: Option<String>,
    /// Wall-clock limit per run.
    timeout: Option<Duration>,
    /// Higher runs first (default 0).
    priority: Option<i32>,
    /// Retry policy.
    retries: Option<RetriesTable>,
    /// A run that ends `interrupted` (the host rebooted, the box vanished): "requeue" (default; runs again at the same attempt, the retry budget is not spent) or "fail".
    on_interrupt: Option<OnInterruptValue>,
    /// Limits of each run's box, over the defaults.
    limits: Option<LimitsTable>,
    /// "walls" (default: own user, pid, mount, ipc and uts namespaces, host root read-only, clean environment) or "none" (trusted legacy agents: cgroup limits only, the daemon's environment; flagged UNWALLED by status and ps).
    isolation: Option<Isolation>,
    /// Who the agent runs as inside the box: a user name or a uid (default: root of the box's user namespace, an unprivileged host id).
    user: Option<User>,
    /// "host" (default) or "none" (own network namespace, loopback only).
    network: Option<Network>,
    /// Directory used as the box's / instead of the host's (read-only, shared), relative to the spec file; it must hold the command.
    rootfs: Option<String>,
    /// Size of the box's private /tmp (default "256MiB", at least 1MiB; charged to its memory limit).
    tmp: Option<Size>,
    /// Host paths made visible in the box, e.g. [{ source = "data", target = "/data", read_only = true }].
    mounts: Option<Vec<MountTable>>,
    /// File of KEY=VALUE lines (# comments) added to the box's environment, relative to the spec file.
    env_file: Option<String>,
    /// Daemon environment variables the box may see: names or prefixes ending in * ("AWS_*"). Nothing else of the daemon's environment reaches a walled box.
    inherit_env: Option<Vec<String>>,
    /// The only env keys a submission may set (default: none). PATH, HOME, LD_*, BASH_FUNC_*, shell startup and interpreter path variables are refused: they pick the code that runs.
    submit_env: Option<Vec<String>>,
    /// Submit a run every period, e.g. "10m" (slots are multiples of the period since the Unix epoch, so "10m" fires at :00, :10, ...). Not with `cron`.
    every: Option<Duration>,
    /// Submit a run at the matches of a cron expression, e.g. "*/10 * * * *" (minute hour day-of-month month day-of-week; an optional leading seconds field). Not with `every`.
    cron: Option<String>,
    /// IANA time zone `cron` is read in, e.g. "Europe/Berlin" (default "UTC"); DST changes fire once.
    timezone: Option<String>,
    /// A slot that comes while a scheduled run is still queued or running: "skip" (default), "queue" (one pending run, submitted when the live ones end) or "allow".
    overlap: Option<OverlapValue>,
    /// Slots missed while the daemon was down: "none" (default) or "one" (one run at start).
    catch_up: Option<CatchUpValue>,
    /// Arguments appended to the command of each scheduled run.
    args: Option<Vec<String>>,
}

/// `overlap` values.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OverlapValue {
    /// Drop the slot.
    Skip,
    /// Keep one pending run.
    Queue,
    /// Run anyway.
    Allow,
}

/// `catch_up` values.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CatchUpValue {
    /// Drop missed slots.
    None,
    /// One run at start.
    One,
}

/// `on_interrupt` values.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OnInterruptValue {
    /// Queue the job again at the same attempt.
    Requeue,
    /// Fail the job.
    Fail,
}

/// Cause kinds a job can be retried on.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RetryCause {
    /// Exited with a non-success code.
    Exited,
    /// Killed by a signal stockade did not send.
    Signaled,
    /// Killed by the OOM killer in its box.
    OomKilled,
    /// Hit its pids limit.
    PidsLimit,
    /// Ran past its timeout.
    TimedOut,
    /// Gone after a daemon restart.
    Lost,
    /// Liveness probe failed.
    LivenessFailed,
}

/// Retries of a failed job.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetriesTable {
    /// Extra attempts (default 0).
    max: Option<u32>,
    /// Delay before a retry (default "10s").
    backoff: Option<Duration>,
    /// Cause kinds that are retried (default ["exited", "lost"]).
    on: Option<Vec<RetryCause>>,
}
