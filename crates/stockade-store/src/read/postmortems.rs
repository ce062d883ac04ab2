//! Post-mortem queries. The body is the JSON of [`PostMortem`]; the newest
//! post-mortem is the one of the highest run id.

use super::collect;
use crate::codec::{self, Cell};
use crate::sql::SqlResultExt;
use crate::{Store, StoreError};
use rusqlite::Row;
use std::path::Path;
use stockade_proto::{JobId, PostMortem, RunId};

impl Store {
    /// The post-mortem of one run, if it had one.
    pub fn postmortem(&self, run: RunId) -> Result<Option<PostMortem>, StoreError> {
        self.query_postmortem("SELECT run, body FROM postmortems WHERE run = ?1", [run.0])
    }

    /// The newest post-mortem of a service or job template.
    pub fn last_postmortem_of_unit(&self, unit: &str) -> Result<Option<PostMortem>, StoreError> {
        self.query_postmortem(
            "SELECT run, body FROM postmortems WHERE unit = ?1 ORDER BY run DESC LIMIT 1",
            [unit],
        )
    }

    /// The newest post-mortem of one replica of a service (`worker[3]`).
    pub fn last_postmortem_of_replica(
        &self,
        service: &str,
        replica: u32,
    ) -> Result<Option<PostMortem>, StoreError> {
        self.query_postmortem(
            "SELECT p.run, p.body FROM postmortems p JOIN runs r ON r.id = p.run \
             WHERE p.unit = ?1 AND r.job IS NULL AND r.replica = ?2 ORDER BY p.run DESC LIMIT 1",
            rusqlite::params![service, replica],
        )
    }

    /// The newest post-mortem of any run of a job.
    pub fn last_postmortem_of_job(&self, job: JobId) -> Result<Option<PostMortem>, StoreError> {
        self.query_postmortem(
            "SELECT p.run, p.body FROM postmortems p JOIN runs r ON r.id = p.run \
             WHERE r.job = ?1 ORDER BY p.run DESC LIMIT 1",
            [job.0],
        )
    }

    fn query_postmortem(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Option<PostMortem>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn.prepare_cached(sql).at(path)?;
            let rows = stmt.query(params).at(path)?;
            Ok(collect(rows, path, postmortem_from_row)?.pop())
        })
    }
}

fn postmortem_from_row(row: &Row<'_>, path: &Path) -> Result<PostMortem, StoreError> {
    let run: i64 = row.get(0).at(path)?;
    let body: String = row.get(1).at(path)?;
    codec::from_json(Cell { table: "postmortems", id: run, column: "body" }, &body)
}
