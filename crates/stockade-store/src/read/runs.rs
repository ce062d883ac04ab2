//! Run queries, and the usage peaks of a unit's past runs.

use super::collect;
use crate::run::{RUN_COLUMNS, run_from_row};
use crate::sql::SqlResultExt;
use crate::{RunRecord, Scale, Store, StoreError, UnitPeaks};
use std::collections::BTreeMap;
use stockade_proto::{JobId, RunId, UnixMillis};

/// How many of a unit's newest ended runs [`Store::unit_peaks`] looks at:
/// recent behaviour is what the next run will do, and the cost stays bounded.
const PEAK_WINDOW: u32 = 100;

impl Store {
    /// The services a `stockade stop` left down ([`crate::Write::ServiceHeld`]),
    /// by name.
    pub fn held_services(&self) -> Result<Vec<String>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn
                .prepare_cached("SELECT service FROM held_services ORDER BY service")
                .at(path)?;
            let rows = stmt.query([]).at(path)?;
            collect(rows, path, |row, path| row.get::<_, String>(0).at(path))
        })
    }

    /// The replica counts `stockade scale` set ([`crate::Write::ServiceScaled`]),
    /// by service.
    pub fn scaled_services(&self) -> Result<BTreeMap<String, Scale>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT service, replicas, spec_replicas FROM scaled_services ORDER BY service",
                )
                .at(path)?;
            let rows = stmt.query([]).at(path)?;
            let scales = collect(rows, path, |row, path| {
                let scale =
                    Scale { replicas: row.get(1).at(path)?, spec_replicas: row.get(2).at(path)? };
                Ok((row.get::<_, String>(0).at(path)?, scale))
            })?;
            Ok(scales.into_iter().collect())
        })
    }

    /// The replicas a `stockade stop NAME[N]` left down
    /// ([`crate::Write::ReplicaHeld`]): (service, replica), in order.
    pub fn held_replicas(&self) -> Result<Vec<(String, u32)>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT service, replica FROM held_replicas ORDER BY service, replica",
                )
                .at(path)?;
            let rows = stmt.query([]).at(path)?;
            collect(rows, path, |row, path| {
                Ok((row.get::<_, String>(0).at(path)?, row.get::<_, u32>(1).at(path)?))
            })
        })
    }

    /// One run, or `None`.
    pub fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        self.query_runs(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"), [id.0])
            .map(|mut runs| runs.pop())
    }

    /// Every run of a job, oldest first.
    pub fn runs_of_job(&self, id: JobId) -> Result<Vec<RunRecord>, StoreError> {
        self.query_runs(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE job = ?1 ORDER BY id"),
            [id.0],
        )
    }

    /// The newest `limit` runs of a service or job template, newest first.
    pub fn runs_of_unit(&self, unit: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_runs(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE unit = ?1 ORDER BY id DESC LIMIT ?2"),
            rusqlite::params![unit, limit],
        )
    }

    /// Runs without an end, oldest first: after a restart, each is either
    /// re-adopted (its box still has processes) or ended as `lost`.
    pub fn open_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.query_runs(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE ended_at IS NULL ORDER BY id"),
            [],
        )
    }

    /// When the newest ended run of a job ended (`None`: none has ended).
    pub fn job_ended_at(&self, id: JobId) -> Result<Option<UnixMillis>, StoreError> {
        self.last_end("SELECT max(ended_at) FROM runs WHERE job = ?1", rusqlite::params![id.0])
    }

    /// When the newest ended run of a service replica ended (`None`: none has).
    pub fn replica_ended_at(
        &self,
        service: &str,
        replica: u32,
    ) -> Result<Option<UnixMillis>, StoreError> {
        self.last_end(
            "SELECT max(ended_at) FROM runs WHERE unit = ?1 AND kind = 'service' AND replica = ?2",
            rusqlite::params![service, replica],
        )
    }

    fn last_end(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Option<UnixMillis>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn.prepare_cached(sql).at(path)?;
            stmt.query_row(params, |row| row.get::<_, Option<i64>>(0))
                .at(path)
                .map(|at| at.map(|ms| ms.max(0) as UnixMillis))
        })
    }

    /// The most the unit's newest ended runs used, or `None` if no run of it
    /// has ended.
    pub fn unit_peaks(&self, unit: &str) -> Result<Option<UnitPeaks>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT count(*), \
                       max(json_extract(evidence, '$.memory_peak')), \
                       max(json_extract(evidence, '$.pids_peak')), \
                       max(json_extract(evidence, '$.cpu_usec')), \
                       max(CAST(json_extract(evidence, '$.cpu_usec') AS REAL) \
                           / NULLIF(json_extract(evidence, '$.runtime_ms'), 0) / 1000.0), \
                       max(json_extract(evidence, '$.runtime_ms')) \
                     FROM (SELECT evidence FROM runs WHERE unit = ?1 AND evidence IS NOT NULL \
                           ORDER BY id DESC LIMIT ?2)",
                )
                .at(path)?;
            stmt.query_row(rusqlite::params![unit, PEAK_WINDOW], |row| {
                let runs: u64 = row.get(0)?;
                Ok((runs > 0).then_some(UnitPeaks {
                    unit: unit.to_string(),
                    runs,
                    memory_peak: row.get(1)?,
                    pids_peak: row.get(2)?,
                    cpu_usec: row.get(3)?,
                    cpus: row.get(4)?,
                    runtime_ms: row.get(5)?,
                }))
            })
            .at(path)
        })
    }

    fn query_runs(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn.prepare_cached(sql).at(path)?;
            let rows = stmt.query(params).at(path)?;
            collect(rows, path, run_from_row)
        })
    }
}
