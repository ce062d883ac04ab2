//! What the API returns: views of services, jobs and pools. The daemon
//! serializes them, the CLI deserializes them; field names are the contract.

use crate::{
    ExitCause, JobId, JobSource, JobState, Limits, RunId, ScheduleView, ServiceState, UnixMillis,
    Usage,
};
use serde::{Deserialize, Serialize};

/// One service replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReplicaView {
    /// Service name.
    pub service: String,
    /// Replica index (0-based).
    pub replica: u32,
    /// Current state.
    pub state: ServiceState,
    /// Why it is in that state, when that needs saying (blocked, gave_up, backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The live run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunId>,
    /// Main pid of the live run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Restarts since the service was started.
    pub restarts: u32,
    /// When the live run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<UnixMillis>,
    /// How the last run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cause: Option<ExitCause>,
    /// Usage of the live run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The limits of its box.
    pub limits: Limits,
}

/// One pool's queue and admission state, snake_case like the rest of the
/// API. (Only the top level of `GET /api/queue/status` and the `queue` of a
/// submit reply keep the camelCase the field reports' users script against.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PoolView {
    /// Pool name.
    pub name: String,
    /// Jobs running now.
    pub running: u64,
    /// Jobs waiting.
    pub queued: u64,
    /// The limit in force now.
    pub max_concurrency: u64,
    /// `running / max_concurrency`, in percent.
    pub utilization_percent: u64,
    /// Why the head of the queue is not starting, if it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocking_reason: Option<String>,
    /// How the limit is chosen: `fixed` or `auto`.
    pub mode: String,
    /// Why an `auto` pool's limit is what it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_reason: Option<String>,
    /// The most jobs the queue accepts.
    pub max_queued: u64,
}

/// One job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JobView {
    /// Job id.
    pub id: JobId,
    /// Template name.
    pub template: String,
    /// Who submitted it (absent: `api`).
    #[serde(default, skip_serializing_if = "JobSource::is_api")]
    pub source: JobSource,
    /// Pool.
    pub pool: String,
    /// State.
    pub state: JobState,
    /// Arguments appended to the template's command.
    pub args: Vec<String>,
    /// Priority (higher first).
    pub priority: i32,
    /// Runs started so far.
    pub attempt: u32,
    /// Runs allowed in all (1 + retries).
    pub max_attempts: u32,
    /// Place in the queue (0 = next), while queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// Why it waits, while queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// The live run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunId>,
    /// Main pid of the live run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// How the last run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<ExitCause>,
    /// Why the job is in its state, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Submission time.
    pub submitted_at: UnixMillis,
    /// Start of the latest run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<UnixMillis>,
    /// End time, once terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<UnixMillis>,
    /// Usage of the live run, while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The limits of its box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Its runs, oldest first (in `GET /api/jobs/{id}`; empty in listings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunView>,
    /// In a cluster: the member that runs (or last ran) it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// One run (attempt) of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunView {
    /// The run.
    pub id: RunId,
    /// Its attempt number (1 = the first run).
    pub attempt: u32,
    /// Its main pid, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When it was journaled to start.
    pub started_at: UnixMillis,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<UnixMillis>,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<ExitCause>,
}

/// A job submission (`POST /api/jobs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// The `[job.NAME]` template.
    pub template: String,
    /// Arguments appended to its command.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Priority; higher runs first. Defaults to the template's.
    #[serde(default)]
    pub priority: Option<i32>,
    /// A key that makes a retried submission safe: a job already submitted
    /// with it is answered instead of queuing a second one. Set by the
    /// `Idempotency-Key` header for a single submission, or per item here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// The reply to a submission: the shape the field report's users script against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Submitted {
    /// The new job's id.
    pub id: JobId,
    /// Always `queued`.
    pub status: JobState,
    /// Where it stands.
    pub queue: QueuePosition,
}

/// Where a new job stands in its pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueuePosition {
    /// Jobs ahead of it.
    pub position: u64,
    /// Jobs running in its pool.
    pub running: u64,
    /// The pool's limit.
    pub max_concurrency: u64,
}

/// `GET /api/queue/status`. The top level keeps the camelCase shape the
/// field reports' users script against (the totals of every pool); `pools`
/// is snake_case like the rest of the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueueStatus {
    /// Jobs running now, in every pool.
    pub running: u64,
    /// Jobs waiting, in every pool.
    pub queued: u64,
    /// The sum of every pool's limit in force now.
    #[serde(rename = "maxConcurrency")]
    pub max_concurrency: u64,
    /// `running / maxConcurrency`, in percent (0 when no pool may run any).
    #[serde(rename = "utilizationPercent")]
    pub utilization_percent: u64,
    /// Every pool.
    pub pools: Vec<PoolView>,
}

/// The spec the daemon runs, against the spec file on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpecFileView {
    /// SHA-256 of the file's bytes when it was loaded (at start or the last reload).
    pub loaded_hash: String,
    /// SHA-256 of the file's bytes now (`None`: it cannot be read).
    pub disk_hash: Option<String>,
    /// The file on disk differs from what runs: `stockade reload` applies it.
    pub changed_on_disk: bool,
    /// When it was loaded.
    pub loaded_at: UnixMillis,
    /// How many reloads were applied since the daemon started.
    pub reloads: u32,
}

/// A service running the replica count `stockade scale` gave it instead of
/// its spec's `replicas` (kept across daemon restarts while the spec's
/// `replicas` stays what it was).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScaledService {
    /// The service.
    pub service: String,
    /// The count it runs.
    pub replicas: u32,
    /// The spec's `replicas`.
    pub spec_replicas: u32,
}

impl ScaledService {
    /// `3 (scaled; spec 2)`.
    pub fn describe(&self) -> String {
        format!("{} (scaled; spec {})", self.replicas, self.spec_replicas)
    }
}

/// `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StatusView {
    /// Daemon pid.
    pub pid: u32,
    /// When the daemon started.
    pub started_at: UnixMillis,
    /// The box backend in use (`cgroup v1`, `cgroup v2`, `none`).
    pub sandbox: String,
    /// Warnings about the box backend.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The spec file.
    pub spec: String,
    /// Every replica of every service.
    pub services: Vec<ReplicaView>,
    /// The services whose replica count is a `stockade scale` over the spec's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scaled: Vec<ScaledService>,
    /// Every pool.
    pub pools: Vec<PoolView>,
    /// Every job template's schedule (`every`, `cron`).
    #[serde(default)]
    pub schedules: Vec<ScheduleView>,
    /// The spec as loaded against the file on disk now (set by the daemon;
    /// absent from an older one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_file: Option<SpecFileView>,
}

/// Whether a unit's boxes have walls, as the daemon adds it to every replica
/// and job in `/api/status`, `/api/services` and `/api/jobs` (`"isolation"`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// `isolation = "walls"` (the default).
    #[default]
    Walls,
    /// `isolation = "none"`: no namespaces, the daemon's environment; flagged
    /// `UNWALLED` by `status` and `ps`.
    None,
}

/// The `isolation` field of a replica or job view, read beside the view
/// itself (the views are built by the engine, the field by the daemon).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Isolated {
    /// Absent from an older daemon: taken as walled.
    #[serde(default)]
    pub isolation: Isolation,
}

/// `"unwalled"` of `/api/status`: every unit that runs with
/// `isolation = "none"`, as `service NAME` / `job NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Unwalled {
    /// The units, services first, in spec order.
    #[serde(default)]
    pub unwalled: Vec<String>,
}

/// One alert that is firing now: an `[alert.NAME]` rule or the leak detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FiringAlert {
    /// The rule's name, or `memory_leak`.
    pub alert: String,
    /// The service, job template or pool it is about (`""` for the host);
    /// `worker[0]` for one replica.
    pub unit: String,
    /// What holds, with the numbers.
    pub message: String,
    /// When it started firing.
    pub since: UnixMillis,
}

/// `"alerts"` of `/api/status`: every alert firing now, by name and unit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FiringAlerts {
    /// The firing alerts, by alert name then unit.
    #[serde(default)]
    pub alerts: Vec<FiringAlert>,
}

/// One page of a list: every list endpoint answers this shape and takes
/// `?limit=` and `?cursor=` (the previous page's `next`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Page<T> {
    /// This page's items, in the endpoint's order.
    pub items: Vec<T>,
    /// The cursor of the next page; `null` on the last one. Opaque: pass it
    /// back as `?cursor=` unchanged.
    pub next: Option<String>,
    /// How many items match the query in all pages together.
    pub total: u64,
}
