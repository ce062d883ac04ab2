//! The SQL of each [`Write`]: what it changes, which journal row and which
//! event it appends. Runs inside the writer's open transaction.

use crate::codec::{self, Cell};
use crate::job::{JOB_COLUMNS, job_from_row};
use crate::sql::SqlResultExt;
use crate::{Applied, JobRecord, NewJob, NewRun, Scale, StoreError, Write};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use stockade_proto::{
    Event, EventKind, Evidence, ExitCause, JobId, JobState, PostMortem, RunId, Seq, UnixMillis,
    now_millis,
};

/// One journal row.
struct Transition<'a> {
    entity: &'static str,
    id: u64,
    from: Option<&'a str>,
    to: &'a str,
    attempt: u32,
    reason: Option<&'a str>,
    at: UnixMillis,
}

/// Applies writes on the writer's connection.
pub(crate) struct Applier<'c> {
    pub conn: &'c Connection,
    pub path: &'c Path,
    /// Events appended so far (drives retention pruning).
    pub events_appended: u64,
}

impl Applier<'_> {
    pub(crate) fn apply(&mut self, write: Write) -> Result<Applied, StoreError> {
        match write {
            Write::SubmitJob(job) => self.submit(job),
            Write::JobState { job, from, to, attempt, reason } => {
                let new_attempt = if to == JobState::Running { attempt + 1 } else { attempt };
                self.job_state(job, (from, attempt), (to, new_attempt), reason)
            }
            Write::Requeue { job, attempt, reason } => {
                let to = (JobState::Queued, attempt.saturating_sub(1));
                self.job_state(job, (JobState::Running, attempt), to, reason)
            }
            Write::StartRun(run) => self.start_run(run).map(Applied::Run),
            Write::RunPid { run, pid } => self.run_pid(run, pid).map(Applied::Event),
            Write::EndRun { run, cause, evidence, ended_at } => {
                self.end_run(run, cause, evidence, ended_at).map(Applied::Event)
            }
            Write::PostMortem(pm) => self.postmortem(pm).map(|()| Applied::Done),
            Write::PrunePostMortems { ended_before } => self.prune_postmortems(ended_before),
            Write::ScheduleSlot { template, slot, kind } => {
                self.schedule_slot(template, slot, kind).map(Applied::Event)
            }
            Write::Event { unit, kind } => self.event(unit, kind, now_millis()).map(Applied::Event),
            Write::ServiceHeld { service, held } => {
                self.service_held(&service, held).map(|()| Applied::Done)
            }
            Write::ServiceScaled { service, scale } => {
                self.service_scaled(&service, scale).map(|()| Applied::Done)
            }
            Write::ReplicaHeld { service, replica, held } => {
                self.replica_held(&service, replica, held).map(|()| Applied::Done)
            }
            Write::ReplicasReleased { service, from } => {
                self.replicas_released(&service, from).map(|()| Applied::Done)
            }
        }
    }

    fn service_scaled(&mut self, service: &str, scale: Option<Scale>) -> Result<(), StoreError> {
        let result = match scale {
            Some(Scale { replicas, spec_replicas }) => self
                .conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO scaled_services (service, replicas, spec_replicas, at) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![service, replicas, spec_replicas, now_millis()])
                }),
            None => self
                .conn
                .prepare_cached("DELETE FROM scaled_services WHERE service = ?1")
                .and_then(|mut stmt| stmt.execute(params![service])),
        };
        result.at(self.path)?;
        Ok(())
    }

    fn replica_held(&mut self, service: &str, replica: u32, held: bool) -> Result<(), StoreError> {
        let result = if held {
            self.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO held_replicas (service, replica, at) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut stmt| stmt.execute(params![service, replica, now_millis()]))
        } else {
            self.conn
                .prepare_cached("DELETE FROM held_replicas WHERE service = ?1 AND replica = ?2")
                .and_then(|mut stmt| stmt.execute(params![service, replica]))
        };
        result.at(self.path)?;
        Ok(())
    }

    fn replicas_released(&mut self, service: &str, from: u32) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM held_replicas WHERE service = ?1 AND replica >= ?2")
            .and_then(|mut stmt| stmt.execute(params![service, from]))
            .at(self.path)?;
        Ok(())
    }

    fn service_held(&mut self, service: &str, held: bool) -> Result<(), StoreError> {
        let result = if held {
            self.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO held_services (service, at) VALUES (?1, ?2)",
                )
                .and_then(|mut stmt| stmt.execute(params![service, now_millis()]))
        } else {
            self.conn
                .prepare_cached("DELETE FROM held_services WHERE service = ?1")
                .and_then(|mut stmt| stmt.execute(params![service]))
        };
        result.at(self.path)?;
        Ok(())
    }

    fn submit(&mut self, job: NewJob) -> Result<Applied, StoreError> {
        let cell = Cell { table: "jobs", id: 0, column: "args" };
        let args = codec::to_json(cell, &job.args)?;
        let env = codec::to_json(Cell { column: "env", ..cell }, &job.env)?;
        self.conn
            .prepare_cached(
                "INSERT INTO jobs (template, pool, args, env, priority, state, attempt, max_attempts, submitted_at, idempotency_key, source) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    job.template,
                    job.pool,
                    args,
                    env,
                    job.priority,
                    job.max_attempts,
                    job.submitted_at,
                    job.idempotency_key,
                    job.source.as_str()
                ])
            })
            .at(self.path)?;
        let id = JobId(self.conn.last_insert_rowid() as u64);
        let state = JobState::Queued;
        self.journal(Transition {
            entity: "job",
            id: id.0,
            from: None,
            to: state.as_str(),
            attempt: 0,
            reason: None,
            at: job.submitted_at,
        })?;
        let event = self.event(
            job.template.clone(),
            EventKind::JobState { job: id, state, reason: None },
            job.submitted_at,
        )?;
        let record = JobRecord {
            id,
            template: job.template,
            pool: job.pool,
            args: job.args,
            env: job.env,
            priority: job.priority,
            state,
            attempt: 0,
            max_attempts: job.max_attempts,
            submitted_at: job.submitted_at,
            started_at: None,
            finished_at: None,
            cause: None,
            reason: None,
            source: job.source,
        };
        Ok(Applied::Job(record, event))
    }

    fn job_state(
        &mut self,
        job: JobId,
        (from, attempt): (JobState, u32),
        (to, new_attempt): (JobState, u32),
        reason: Option<String>,
    ) -> Result<Applied, StoreError> {
        let now = now_millis();
        // The compare-and-swap is the fence: with one writer it cannot race,
        // but keeping it in the UPDATE means the rule lives in one statement.
        let sql = format!(
            "UPDATE jobs SET state = ?1, attempt = ?2, reason = ?3, \
             started_at = CASE WHEN ?4 THEN ?5 ELSE started_at END, \
             finished_at = CASE WHEN ?6 THEN ?5 ELSE finished_at END \
             WHERE id = ?7 AND state = ?8 AND attempt = ?9 RETURNING {JOB_COLUMNS}"
        );
        let path = self.path;
        let updated = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| {
                let mut rows = stmt.query(params![
                    to.as_str(),
                    new_attempt,
                    reason,
                    to == JobState::Running,
                    now,
                    to.is_terminal(),
                    job.0,
                    from.as_str(),
                    attempt
                ])?;
                rows.next().map(|row| row.map(|row| job_from_row(row, path)))
            })
            .at(path)?
            .transpose()?;
        let Some(record) = updated else {
            return Err(self.fence_error(job, (from, attempt)));
        };
        self.journal(Transition {
            entity: "job",
            id: job.0,
            from: Some(from.as_str()),
            to: to.as_str(),
            attempt: new_attempt,
            reason: reason.as_deref(),
            at: now,
        })?;
        let event = self.event(
            record.template.clone(),
            EventKind::JobState { job, state: to, reason },
            now,
        )?;
        Ok(Applied::Job(record, event))
    }

    /// Explain why the fenced UPDATE matched nothing.
    fn fence_error(&self, job: JobId, (from, attempt): (JobState, u32)) -> StoreError {
        let found = self
            .conn
            .prepare_cached("SELECT state, attempt FROM jobs WHERE id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([job.0], |row| Ok((row.get::<_, String>(0)?, row.get::<_, u32>(1)?)))
                    .optional()
            });
        match found {
            Ok(None) => StoreError::UnknownJob { job },
            Ok(Some((state, found_attempt))) => {
                let cell = Cell { table: "jobs", id: job.0 as i64, column: "state" };
                match codec::job_state(cell, &state) {
                    Ok(found_state) => StoreError::Fenced {
                        job,
                        expected_state: from,
                        expected_attempt: attempt,
                        found_state,
                        found_attempt,
                    },
                    Err(err) => err,
                }
            }
            Err(err) => StoreError::sqlite(self.path, err),
        }
    }

    fn start_run(&mut self, run: NewRun) -> Result<RunId, StoreError> {
        let limits = codec::to_json(Cell { table: "runs", id: 0, column: "limits" }, &run.limits)?;
        self.conn
            .prepare_cached(
                "INSERT INTO runs (unit, kind, job, replica, attempt, pid, box_name, started_at, limits) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    run.unit,
                    codec::unit_kind_name(run.kind),
                    run.job.map(|j| j.0),
                    run.replica,
                    run.attempt,
                    run.pid,
                    run.box_name,
                    run.started_at,
                    limits
                ])
            })
            .at(self.path)?;
        let id = RunId(self.conn.last_insert_rowid() as u64);
        self.journal(Transition {
            entity: "run",
            id: id.0,
            from: None,
            to: "running",
            attempt: run.attempt,
            reason: None,
            at: run.started_at,
        })?;
        Ok(id)
    }

    fn run_pid(&mut self, run: RunId, pid: u32) -> Result<Event, StoreError> {
        let unit = self
            .conn
            .prepare_cached("UPDATE runs SET pid = ?1 WHERE id = ?2 RETURNING unit")
            .and_then(|mut stmt| {
                stmt.query_row(params![pid, run.0], |row| row.get::<_, String>(0)).optional()
            })
            .at(self.path)?
            .ok_or(StoreError::UnknownRun { run })?;
        self.event(unit, EventKind::RunStarted { run, pid }, now_millis())
    }

    fn end_run(
        &mut self,
        run: RunId,
        cause: ExitCause,
        evidence: Evidence,
        ended_at: UnixMillis,
    ) -> Result<Event, StoreError> {
        let cell = Cell { table: "runs", id: run.0 as i64, column: "cause" };
        let cause_json = codec::to_json(cell, &cause)?;
        let evidence_json = codec::to_json(Cell { column: "evidence", ..cell }, &evidence)?;
        let ended = self
            .conn
            .prepare_cached(
                "UPDATE runs SET ended_at = ?1, cause = ?2, evidence = ?3 \
                 WHERE id = ?4 AND ended_at IS NULL RETURNING unit, job, attempt",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![ended_at, cause_json, evidence_json, run.0], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<u64>>(1)?,
                        row.get::<_, u32>(2)?,
                    ))
                })
                .optional()
            })
            .at(self.path)?;
        let Some((unit, job, attempt)) = ended else {
            let exists = self
                .conn
                .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")
                .and_then(|mut stmt| stmt.exists([run.0]))
                .at(self.path)?;
            return Err(if exists {
                StoreError::RunAlreadyEnded { run }
            } else {
                StoreError::UnknownRun { run }
            });
        };
        if let Some(job) = job {
            // Fenced by attempt: a late exit of an older attempt must not
            // overwrite the cause of the attempt now running.
            self.conn
                .prepare_cached("UPDATE jobs SET cause = ?1 WHERE id = ?2 AND attempt = ?3")
                .and_then(|mut stmt| stmt.execute(params![cause_json, job, attempt]))
                .at(self.path)?;
        }
        let reason = cause.to_string();
        self.journal(Transition {
            entity: "run",
            id: run.0,
            from: Some("running"),
            to: cause.kind(),
            attempt,
            reason: Some(&reason),
            at: ended_at,
        })?;
        self.event(unit, EventKind::RunExited { run, cause }, ended_at)
    }

    fn postmortem(&mut self, pm: PostMortem) -> Result<(), StoreError> {
        let body = codec::to_json(
            Cell { table: "postmortems", id: pm.run.0 as i64, column: "body" },
            &pm,
        )?;
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO postmortems (run, unit, body) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut stmt| stmt.execute(params![pm.run.0, pm.unit, body]))
            .at(self.path)?;
        Ok(())
    }

    fn prune_postmortems(&mut self, ended_before: UnixMillis) -> Result<Applied, StoreError> {
        // The rows it deletes are the rows it measures: one statement.
        let sizes = self
            .conn
            .prepare_cached(
                "DELETE FROM postmortems WHERE run IN ( \
                   SELECT r.id FROM runs r LEFT JOIN jobs j ON j.id = r.job \
                   WHERE r.ended_at < ?1 \
                     AND (r.job IS NULL OR j.id IS NULL OR j.state NOT IN ('queued', 'running'))) \
                 RETURNING length(body)",
            )
            .and_then(|mut stmt| {
                stmt.query_map([ended_before], |row| row.get::<_, i64>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .at(self.path)?;
        let bytes = sizes.iter().map(|&n| n.max(0) as u64).sum();
        Ok(Applied::Pruned { postmortems: sizes.len() as u64, bytes })
    }

    fn schedule_slot(
        &mut self,
        template: String,
        slot: UnixMillis,
        kind: EventKind,
    ) -> Result<Event, StoreError> {
        let now = now_millis();
        self.conn
            .prepare_cached(
                "INSERT INTO schedules (template, last_slot, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (template) DO UPDATE SET \
                 last_slot = max(last_slot, excluded.last_slot), updated_at = excluded.updated_at",
            )
            .and_then(|mut stmt| stmt.execute(params![template, slot, now]))
            .at(self.path)?;
        self.event(template, kind, now)
    }

    fn event(
        &mut self,
        unit: String,
        kind: EventKind,
        at: UnixMillis,
    ) -> Result<Event, StoreError> {
        let body = codec::to_json(Cell { table: "events", id: 0, column: "body" }, &kind)?;
        self.conn
            .prepare_cached("INSERT INTO events (at, unit, body) VALUES (?1, ?2, ?3)")
            .and_then(|mut stmt| stmt.execute(params![at, unit, body]))
            .at(self.path)?;
        self.events_appended += 1;
        Ok(Event { seq: Seq(self.conn.last_insert_rowid() as u64), at, unit, kind })
    }

    fn journal(&self, t: Transition<'_>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO transitions (entity, entity_id, from_state, to_state, attempt, reason, at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![t.entity, t.id, t.from, t.to, t.attempt, t.reason, t.at])
            })
            .at(self.path)?;
        Ok(())
    }
}
