//! A cluster job as the database holds it, and its API view.

use std::collections::BTreeMap;

use stockade_proto::{ExitCause, JobSource, JobState, JobView};
use tokio_postgres::Row;

/// The columns [`ClusterJob::from_row`] reads, prefixed by `table` (a
/// statement that joins needs it).
pub(crate) fn columns(table: &str) -> String {
    let t = if table.is_empty() { String::new() } else { format!("{table}.") };
    [
        "id",
        "state",
        "template",
        "pool",
        "priority",
        "args",
        "env",
        "memory",
        "tasks",
        "max_attempts",
        "source",
        "idempotency_key",
        "attempt",
        "rescues",
        "host",
        "lease_epoch",
        "lease_token",
        "local_id",
    ]
    .iter()
    .map(|c| format!("{t}{c}"))
    .chain([
        format!("(extract(epoch from {t}submitted_at) * 1000)::bigint"),
        format!("(extract(epoch from {t}started_at) * 1000)::bigint"),
        format!("(extract(epoch from {t}ended_at) * 1000)::bigint"),
        format!("{t}cause"),
        format!("{t}reason"),
        format!("{t}cancel_requested_at IS NOT NULL"),
    ])
    .collect::<Vec<_>>()
    .join(", ")
}

/// One job of the cluster's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterJob {
    /// Its cluster-wide id.
    pub id: u64,
    /// Where it stands.
    pub state: JobState,
    /// The `[job.NAME]` template.
    pub template: String,
    /// Its pool.
    pub pool: String,
    /// Higher runs first.
    pub priority: i32,
    /// Arguments appended to the template's command.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// The memory limit it declares, bytes (what a host must have free).
    pub memory: u64,
    /// The tasks (pids) it declares.
    pub tasks: u64,
    /// Attempts allowed per claim (the template's retries, run locally).
    pub max_attempts: u32,
    /// Who submitted it.
    pub source: JobSource,
    /// Its idempotency key, if submitted with one.
    pub idempotency_key: Option<String>,
    /// Claims so far (the fence's attempt).
    pub attempt: u32,
    /// Times the leader re-queued it from a lost host.
    pub rescues: u32,
    /// The host running it, or that ran it last.
    pub host: Option<String>,
    /// That host's epoch when it claimed it.
    pub lease_epoch: Option<u64>,
    pub(crate) lease_token: Option<String>,
    /// Its job id on that host.
    pub local_id: Option<u64>,
    /// When it was submitted (Unix ms, database clock).
    pub submitted_at: u64,
    /// When its last claim began.
    pub started_at: Option<u64>,
    /// When it ended.
    pub ended_at: Option<u64>,
    /// How its last run ended.
    pub cause: Option<ExitCause>,
    /// Why it ended as it did, or why it was re-queued, in words.
    pub reason: Option<String>,
    /// A cancel was asked for and the holder has not answered yet.
    pub cancel_requested: bool,
}

/// A state as the table spells it (the CHECK constraint admits no other).
pub(crate) fn parse_state(s: &str) -> JobState {
    [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Cancelled,
        JobState::Expired,
    ]
    .into_iter()
    .find(|state| state.as_str() == s)
    .unwrap_or(JobState::Failed)
}

fn millis(v: Option<i64>) -> Option<u64> {
    v.map(|v| v.max(0) as u64)
}

impl ClusterJob {
    pub(crate) fn from_row(row: &Row) -> ClusterJob {
        let state: String = row.get(1);
        let args: serde_json::Value = row.get(5);
        let env: serde_json::Value = row.get(6);
        let source: String = row.get(10);
        let cause: Option<serde_json::Value> = row.get(21);
        ClusterJob {
            id: row.get::<_, i64>(0) as u64,
            state: parse_state(&state),
            template: row.get(2),
            pool: row.get(3),
            priority: row.get(4),
            args: serde_json::from_value(args).unwrap_or_default(),
            env: serde_json::from_value(env).unwrap_or_default(),
            memory: row.get::<_, i64>(7).max(0) as u64,
            tasks: row.get::<_, i64>(8).max(0) as u64,
            max_attempts: row.get::<_, i32>(9).max(0) as u32,
            source: JobSource::from_name(&source).unwrap_or_default(),
            idempotency_key: row.get(11),
            attempt: row.get::<_, i32>(12).max(0) as u32,
            rescues: row.get::<_, i32>(13).max(0) as u32,
            host: row.get(14),
            lease_epoch: row.get::<_, Option<i64>>(15).map(|e| e as u64),
            lease_token: row.get(16),
            local_id: row.get::<_, Option<i64>>(17).map(|e| e as u64),
            submitted_at: millis(row.get(18)).unwrap_or(0),
            started_at: millis(row.get(19)),
            ended_at: millis(row.get(20)),
            cause: cause.and_then(|c| serde_json::from_value(c).ok()),
            reason: row.get(22),
            cancel_requested: row.get(23),
        }
    }

    /// The fence of its current claim, while it is running.
    pub fn fence(&self) -> Option<crate::Fence> {
        if self.state != JobState::Running {
            return None;
        }
        Some(crate::Fence {
            job: self.id,
            attempt: self.attempt,
            token: self.lease_token.clone()?,
            epoch: self.lease_epoch?,
        })
    }

    /// The API's view of it (`waiting`: why it is not running, when queued).
    pub fn view(&self, waiting: Option<String>) -> JobView {
        JobView {
            id: stockade_proto::JobId(self.id),
            template: self.template.clone(),
            source: self.source,
            pool: self.pool.clone(),
            state: self.state,
            args: self.args.clone(),
            priority: self.priority,
            attempt: self.attempt,
            max_attempts: self.max_attempts,
            position: None,
            waiting,
            run: None,
            pid: None,
            cause: self.cause.clone(),
            reason: self.reason.clone(),
            submitted_at: self.submitted_at,
            started_at: self.started_at,
            finished_at: self.ended_at,
            usage: None,
            limits: None,
            runs: Vec::new(),
            host: self.host.clone(),
        }
    }
}

/// Which jobs [`crate::Member::jobs`] lists.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only these states (all when empty).
    pub states: Vec<JobState>,
    /// Only this pool.
    pub pool: Option<String>,
    /// Only this template.
    pub template: Option<String>,
    /// Only ids below this (paging, newest first).
    pub before: Option<u64>,
    /// At most this many.
    pub limit: u64,
}
