//! Runs as stored: [`NewRun`] (a start), [`RunRecord`] (the row) and
//! [`UnitPeaks`] (what past runs of a unit used, for `doctor --plan`).

use crate::StoreError;
use crate::codec::{self, Cell};
use crate::sql::SqlResultExt;
use rusqlite::Row;
use std::path::Path;
use stockade_proto::{Evidence, ExitCause, JobId, Limits, RunId, UnitKind, UnixMillis};

/// A run that has just been spawned.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// The service or job template.
    pub unit: String,
    /// Service replica or job.
    pub kind: UnitKind,
    /// The job, for job runs.
    pub job: Option<JobId>,
    /// Replica index (0 for jobs).
    pub replica: u32,
    /// The attempt this run is (the job's attempt, or the service's restart count).
    pub attempt: u32,
    /// The main pid, once known.
    pub pid: Option<u32>,
    /// The box (cgroup) name, so recovery can look inside it.
    pub box_name: String,
    /// When it started.
    pub started_at: UnixMillis,
    /// The limits in force.
    pub limits: Limits,
}

/// One run as the store knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// Assigned by the store; never reused.
    pub id: RunId,
    /// The service or job template.
    pub unit: String,
    /// Service replica or job.
    pub kind: UnitKind,
    /// The job, for job runs.
    pub job: Option<JobId>,
    /// Replica index.
    pub replica: u32,
    /// The attempt.
    pub attempt: u32,
    /// The main pid.
    pub pid: Option<u32>,
    /// The box name.
    pub box_name: String,
    /// When it started.
    pub started_at: UnixMillis,
    /// The limits in force.
    pub limits: Limits,
    /// When it ended; `None` while running (recovery looks for these).
    pub ended_at: Option<UnixMillis>,
    /// Why it ended.
    pub cause: Option<ExitCause>,
    /// The facts that decided the cause.
    pub evidence: Option<Evidence>,
}

/// The most a unit's recent ended runs used (the newest 100 runs with
/// evidence). Each field is `None` when no run reported that counter.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitPeaks {
    /// The unit.
    pub unit: String,
    /// How many ended runs the numbers come from.
    pub runs: u64,
    /// Highest `memory_peak`, bytes.
    pub memory_peak: Option<u64>,
    /// Highest `pids_peak`.
    pub pids_peak: Option<u64>,
    /// Highest CPU time of one run, microseconds.
    pub cpu_usec: Option<u64>,
    /// Highest average CPU use of one run, in CPUs (cpu time ÷ runtime).
    pub cpus: Option<f64>,
    /// Longest runtime, milliseconds.
    pub runtime_ms: Option<u64>,
}

/// The column list every run query selects, in [`run_from_row`] order.
pub(crate) const RUN_COLUMNS: &str = "id, unit, kind, job, replica, attempt, pid, box_name, \
     started_at, limits, ended_at, cause, evidence";

pub(crate) fn run_from_row(row: &Row<'_>, path: &Path) -> Result<RunRecord, StoreError> {
    let id: i64 = row.get(0).at(path)?;
    let cell = |column| Cell { table: "runs", id, column };
    let kind: String = row.get(2).at(path)?;
    let limits: String = row.get(9).at(path)?;
    Ok(RunRecord {
        id: RunId(id as u64),
        unit: row.get(1).at(path)?,
        kind: codec::unit_kind(cell("kind"), &kind)?,
        job: row.get::<_, Option<u64>>(3).at(path)?.map(JobId),
        replica: row.get(4).at(path)?,
        attempt: row.get(5).at(path)?,
        pid: row.get(6).at(path)?,
        box_name: row.get(7).at(path)?,
        started_at: row.get(8).at(path)?,
        limits: codec::from_json(cell("limits"), &limits)?,
        ended_at: row.get(10).at(path)?,
        cause: codec::opt_from_json(cell("cause"), row.get(11).at(path)?)?,
        evidence: codec::opt_from_json(cell("evidence"), row.get(12).at(path)?)?,
    })
}
