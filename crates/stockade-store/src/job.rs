//! Jobs as stored: [`NewJob`] (a submission), [`JobRecord`] (the row) and
//! [`JobFilter`] (a listing query).

use crate::StoreError;
use crate::codec::{self, Cell};
use crate::sql::SqlResultExt;
use rusqlite::Row;
use std::collections::BTreeMap;
use std::path::Path;
use stockade_proto::{ExitCause, JobId, JobSource, JobState, UnixMillis};

/// A submission of a job template, as the engine accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The job template (`[job.NAME]`).
    pub template: String,
    /// The pool whose queue it waits in.
    pub pool: String,
    /// Arguments appended to the template's command.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts allowed in total (1 + retries).
    pub max_attempts: u32,
    /// When it was submitted.
    pub submitted_at: UnixMillis,
    /// The submission's `Idempotency-Key`, unique among jobs when set.
    pub idempotency_key: Option<String>,
    /// Who submitted it.
    pub source: JobSource,
}

/// One job as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Assigned by the store at submission; never reused.
    pub id: JobId,
    /// The job template.
    pub template: String,
    /// The pool.
    pub pool: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Higher runs first.
    pub priority: i32,
    /// The current state.
    pub state: JobState,
    /// The current attempt: 0 until first started; entering `running`
    /// increments it, so the n-th run of a job has attempt n.
    pub attempt: u32,
    /// Attempts allowed in total.
    pub max_attempts: u32,
    /// When it was submitted.
    pub submitted_at: UnixMillis,
    /// When it last entered `running`.
    pub started_at: Option<UnixMillis>,
    /// When it reached a terminal state.
    pub finished_at: Option<UnixMillis>,
    /// How its last run ended (set by `Write::EndRun` of a run of this job).
    pub cause: Option<ExitCause>,
    /// The reason given with the last transition.
    pub reason: Option<String>,
    /// Who submitted it.
    pub source: JobSource,
}

/// Which jobs [`crate::Store::jobs`] lists. The default lists every job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only these states (empty: any state).
    pub states: Vec<JobState>,
    /// Only this template.
    pub template: Option<String>,
    /// Only this pool.
    pub pool: Option<String>,
    /// At most this many (newest first).
    pub limit: Option<usize>,
}

/// The column list every job query selects, in [`job_from_row`] order.
pub(crate) const JOB_COLUMNS: &str = "id, template, pool, args, env, priority, state, attempt, \
     max_attempts, submitted_at, started_at, finished_at, cause, reason, source";

pub(crate) fn job_from_row(row: &Row<'_>, path: &Path) -> Result<JobRecord, StoreError> {
    let id: i64 = row.get(0).at(path)?;
    let cell = |column| Cell { table: "jobs", id, column };
    let args: String = row.get(3).at(path)?;
    let env: String = row.get(4).at(path)?;
    let state: String = row.get(6).at(path)?;
    Ok(JobRecord {
        id: JobId(id as u64),
        template: row.get(1).at(path)?,
        pool: row.get(2).at(path)?,
        args: codec::from_json(cell("args"), &args)?,
        env: codec::from_json(cell("env"), &env)?,
        priority: row.get(5).at(path)?,
        state: codec::job_state(cell("state"), &state)?,
        attempt: row.get(7).at(path)?,
        max_attempts: row.get(8).at(path)?,
        submitted_at: row.get(9).at(path)?,
        started_at: row.get(10).at(path)?,
        finished_at: row.get(11).at(path)?,
        cause: codec::opt_from_json(cell("cause"), row.get(12).at(path)?)?,
        reason: row.get(13).at(path)?,
        source: codec::job_source(cell("source"), &row.get::<_, String>(14).at(path)?)?,
    })
}
