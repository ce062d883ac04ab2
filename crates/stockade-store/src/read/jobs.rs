//! Job queries.

use super::collect;
use crate::job::{JOB_COLUMNS, job_from_row};
use crate::sql::SqlResultExt;
use crate::{JobFilter, JobRecord, Store, StoreError};
use rusqlite::types::Value;
use stockade_proto::JobId;

/// `(template, final state, cause kind of the last run, jobs)`.
pub type FinishedCount = (String, String, Option<String>, u64);

impl Store {
    /// One job, or `None` if there is no such id.
    pub fn job(&self, id: JobId) -> Result<Option<JobRecord>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))
                .at(path)?;
            let rows = stmt.query([id.0]).at(path)?;
            Ok(collect(rows, path, job_from_row)?.pop())
        })
    }

    /// The job submitted with `Idempotency-Key: key`, if any.
    pub fn job_by_idempotency_key(&self, key: &str) -> Result<Option<JobRecord>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE idempotency_key = ?1"
                ))
                .at(path)?;
            let rows = stmt.query([key]).at(path)?;
            Ok(collect(rows, path, job_from_row)?.pop())
        })
    }

    /// Jobs matching `filter`, newest first.
    pub fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobRecord>, StoreError> {
        Ok(self.job_page(filter, None)?.0)
    }

    /// Jobs matching `filter` with ids below `before`, newest first, at most
    /// `filter.limit`; and how many match `filter` in all (any id). The API's
    /// cursor paging (`?cursor=` is the `before` of the next page).
    pub fn job_page(
        &self,
        filter: &JobFilter,
        before: Option<JobId>,
    ) -> Result<(Vec<JobRecord>, u64), StoreError> {
        let mut clauses = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        if !filter.states.is_empty() {
            let marks = vec!["?"; filter.states.len()].join(", ");
            clauses.push(format!("state IN ({marks})"));
            values.extend(filter.states.iter().map(|s| Value::Text(s.as_str().to_string())));
        }
        if let Some(template) = &filter.template {
            clauses.push("template = ?".to_string());
            values.push(Value::Text(template.clone()));
        }
        if let Some(pool) = &filter.pool {
            clauses.push("pool = ?".to_string());
            values.push(Value::Text(pool.clone()));
        }
        let filtered = |clauses: &[String]| {
            if clauses.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", clauses.join(" AND "))
            }
        };
        let count_sql = format!("SELECT COUNT(*) FROM jobs{}", filtered(&clauses));
        let count_values = values.clone();
        if let Some(before) = before {
            clauses.push("id < ?".to_string());
            values.push(Value::Integer(i64::try_from(before.0).unwrap_or(i64::MAX)));
        }
        let mut sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs{} ORDER BY id DESC", filtered(&clauses));
        if let Some(limit) = filter.limit {
            sql.push_str(" LIMIT ?");
            values.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        }
        self.readers().with(|conn, path| {
            let mut stmt = conn.prepare_cached(&sql).at(path)?;
            let rows = stmt.query(rusqlite::params_from_iter(values)).at(path)?;
            let jobs = collect(rows, path, job_from_row)?;
            let mut count = conn.prepare_cached(&count_sql).at(path)?;
            let total: i64 = count
                .query_row(rusqlite::params_from_iter(count_values), |row| row.get(0))
                .at(path)?;
            Ok((jobs, u64::try_from(total).unwrap_or(0)))
        })
    }

    /// How many jobs ended, by (template, final state, the kind of the last
    /// run's cause — `None` for a job that never ran): one `GROUP BY` over
    /// the finished rows, for the metrics' failure rate by cause.
    pub fn finished_counts(&self) -> Result<Vec<FinishedCount>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT template, state, json_extract(cause, '$.kind'), COUNT(*) FROM jobs \
                     WHERE state NOT IN ('queued', 'running') GROUP BY 1, 2, 3",
                )
                .at(path)?;
            let rows = stmt
                .query_map([], |row| {
                    let n: i64 = row.get(3)?;
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, u64::try_from(n).unwrap_or(0)))
                })
                .at(path)?;
            rows.collect::<Result<Vec<_>, _>>().at(path)
        })
    }

    /// Jobs that are `queued` or `running`, in queue order (priority
    /// descending, then submission order): what recovery re-queues or re-adopts.
    pub fn unfinished_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') \
                     ORDER BY priority DESC, id ASC"
                ))
                .at(path)?;
            let rows = stmt.query([]).at(path)?;
            collect(rows, path, job_from_row)
        })
    }
}
