//! `stockade top --json`: one snapshot of the rows the table shows, as data —
//! every service replica and running job with its cpu, memory and tasks
//! against its box's limits, in the table's order.

use super::model::{Model, Row, Subject};
use serde::Serialize;

/// The snapshot.
#[derive(Debug, Serialize)]
pub(super) struct Snapshot {
    /// The daemon's spec file.
    spec: Option<String>,
    /// The daemon's pid.
    daemon_pid: Option<u32>,
    /// Its box backend.
    sandbox: Option<String>,
    /// The order of `rows`: `cpu`, `memory`, `pids`, `name` or `restarts`.
    sort: &'static str,
    rows: Vec<RowJson>,
}

/// One replica or running job.
#[derive(Debug, Serialize)]
struct RowJson {
    /// `replica` or `job`.
    kind: &'static str,
    /// As the table names it: `web[0]`, `job:12 (hello)`.
    name: String,
    /// The service or job template.
    unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    replica: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<u64>,
    state: String,
    reason: Option<String>,
    pid: Option<u32>,
    /// Percent of one CPU over the last sample window (`null` until two
    /// samples of the same run were seen).
    cpu_percent: Option<f64>,
    /// The `cpus` quota, in CPUs.
    cpu_limit: Option<f64>,
    memory_bytes: Option<u64>,
    memory_limit_bytes: Option<u64>,
    pids: Option<u64>,
    pids_limit: Option<u64>,
    /// Of a replica only.
    restarts: Option<u32>,
    uptime_ms: Option<u64>,
}

impl Snapshot {
    pub(super) fn of(model: &Model) -> Snapshot {
        let daemon = model.daemon();
        Snapshot {
            spec: daemon.map(|d| d.spec.clone()),
            daemon_pid: daemon.map(|d| d.pid),
            sandbox: daemon.map(|d| d.sandbox.clone()),
            sort: model.sort.label(),
            rows: model.rows.iter().map(RowJson::of).collect(),
        }
    }
}

impl RowJson {
    fn of(r: &Row) -> RowJson {
        let (kind, replica, job) = match r.subject {
            Subject::Replica(n) => ("replica", Some(n), None),
            Subject::Job(id) => ("job", None, Some(id)),
        };
        RowJson {
            kind,
            name: r.name.clone(),
            unit: r.unit.clone(),
            replica,
            job,
            state: r.state.clone(),
            reason: r.reason.clone(),
            pid: r.pid,
            // Two decimals: a rate from two counter reads is no more exact.
            cpu_percent: r.cpu.map(|c| (c * 100.0).round() / 100.0),
            cpu_limit: r.cpu_limit,
            memory_bytes: r.memory,
            memory_limit_bytes: r.memory_limit,
            pids: r.pids,
            pids_limit: r.pids_limit,
            restarts: r.restarts,
            uptime_ms: r.uptime_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::SortKey;
    use super::super::model::tests::{replica, status, usage};
    use super::*;
    use std::time::{Duration, Instant};
    use stockade_proto::{JobView, now_millis};

    #[test]
    fn a_snapshot_has_every_row_with_its_usage_and_limits_in_snake_case() {
        let mut model = Model::new(SortKey::Memory);
        let job: JobView = serde_json::from_value(serde_json::json!({
            "id": 7, "template": "agent", "pool": "default", "state": "running", "args": [],
            "priority": 0, "attempt": 1, "max_attempts": 1, "pid": 4242,
            "submitted_at": 0, "started_at": now_millis(),
            "usage": { "cpu_usec": 1_000_000, "memory_current": 1 << 20, "pids_current": 2 },
            "limits": { "memory": 8 << 20, "pids": 4, "cpus": 0.5 }
        }))
        .unwrap();
        let t0 = Instant::now();
        let web = |cpu| status(vec![replica("web", 0, usage(cpu, 95 << 20, 4), 3)]);
        model.update(&web(0), std::slice::from_ref(&job), t0);
        let mut later = job.clone();
        later.usage.as_mut().unwrap().cpu_usec = Some(1_250_000);
        model.update(&web(500_000), &[later], t0 + Duration::from_secs(1));
        let json = crate::render::snake_keys(serde_json::to_value(Snapshot::of(&model)).unwrap());
        assert_eq!(json["sort"], "memory");
        let rows = json["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{json}");
        assert_eq!(rows[0]["name"], "web[0]", "the table's order: most memory first");
        assert_eq!(rows[0]["kind"], "replica");
        assert_eq!(rows[0]["replica"], 0);
        assert_eq!(rows[0]["cpu_percent"], 50.0);
        assert_eq!(rows[0]["memory_bytes"], 95 << 20);
        assert_eq!(rows[0]["pids"], 4);
        assert_eq!(rows[0]["restarts"], 3);
        assert_eq!(rows[1]["kind"], "job");
        assert_eq!(rows[1]["job"], 7);
        assert_eq!(rows[1]["unit"], "agent");
        assert_eq!(rows[1]["cpu_percent"], 25.0, "a job's cpu too");
        assert_eq!(rows[1]["cpu_limit"], 0.5);
        assert_eq!(rows[1]["memory_limit_bytes"], 8 << 20);
        assert_eq!(rows[1]["pids_limit"], 4);
        assert!(rows[1].get("replica").is_none(), "{json}");
    }
}
