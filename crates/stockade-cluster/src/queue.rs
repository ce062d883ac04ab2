//! The queue: submit, claim by room, fenced completion, give-back, cancel,
//! and what the API lists.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use stockade_proto::{ClusterView, ExitCause, Headroom, HostState, HostView, JobState};

use crate::job::{ClusterJob, JobFilter, columns};
use crate::member::secs;
use crate::{ClusterError, Fence, Member};

/// A job to queue cluster-wide. The daemon fills it from the template, as
/// it would for a local submission.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The template.
    pub template: String,
    /// Its pool.
    pub pool: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Priority, higher first.
    pub priority: i32,
    /// The template's attempts (retried on the host that claimed it).
    pub max_attempts: u32,
    /// The memory limit it declares, bytes.
    pub memory: u64,
    /// The tasks it declares.
    pub tasks: u64,
    /// A retried submission with the same key gets the first job back.
    pub idempotency_key: Option<String>,
    /// `api` or `schedule`.
    pub source: stockade_proto::JobSource,
    /// Not started within this, it expires (the pool's `queue_timeout`).
    pub queue_timeout: Option<Duration>,
    /// The pool's `max_queued`, counted cluster-wide.
    pub max_queued: Option<u64>,
}

/// The room a host offers a claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Budget {
    /// Free run slots per pool this host runs.
    pub pools: BTreeMap<String, u64>,
    /// Bytes of memory free for jobs.
    pub memory: u64,
    /// Tasks free for jobs.
    pub tasks: u64,
    /// Claim at most this many in one go.
    pub max: u64,
}

/// A claimed job and its fence.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The job as claimed.
    pub job: ClusterJob,
    /// What its completion must show.
    pub fence: Fence,
}

/// How a claimed job's run ended on this host.
#[derive(Debug, Clone, PartialEq)]
pub struct End {
    /// `succeeded`, `failed`, `cancelled` or `expired`.
    pub state: JobState,
    /// The last run's cause.
    pub cause: Option<ExitCause>,
    /// In words.
    pub reason: Option<String>,
    /// Its job id on this host.
    pub local_id: Option<u64>,
}

/// Whether the cluster took a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Recorded.
    Accepted,
    /// The fence no longer matches (rescued, or this epoch was fenced): the
    /// result is dropped, the job belongs to someone else now.
    Fenced,
}

fn token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bytes(n: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    if n as f64 >= GIB {
        format!("{:.1} GiB", n as f64 / GIB)
    } else {
        format!("{:.0} MiB", n as f64 / MIB)
    }
}

/// Insert waiting jobs in one statement, in order; for each, the new job,
/// or `None` when its idempotency key was taken already.
pub(crate) async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    jobs: &[NewJob],
) -> Result<Vec<Option<ClusterJob>>, tokio_postgres::Error> {
    let col = |f: fn(&NewJob) -> String| jobs.iter().map(f).collect::<Vec<_>>();
    let templates = col(|j| j.template.clone());
    let pools = col(|j| j.pool.clone());
    let sources = col(|j| j.source.as_str().to_owned());
    let priorities: Vec<i32> = jobs.iter().map(|j| j.priority).collect();
    let args: Vec<serde_json::Value> =
        jobs.iter().map(|j| serde_json::to_value(&j.args).unwrap_or_default()).collect();
    let env: Vec<serde_json::Value> =
        jobs.iter().map(|j| serde_json::to_value(&j.env).unwrap_or_default()).collect();
    let memory: Vec<i64> = jobs.iter().map(|j| j.memory as i64).collect();
    let tasks: Vec<i64> = jobs.iter().map(|j| j.tasks as i64).collect();
    let attempts: Vec<i32> = jobs.iter().map(|j| j.max_attempts as i32).collect();
    let keys: Vec<Option<String>> = jobs.iter().map(|j| j.idempotency_key.clone()).collect();
    let timeouts: Vec<Option<f64>> = jobs.iter().map(|j| j.queue_timeout.map(secs)).collect();
    // Ids are drawn in the SELECT's order, so sorting what comes back by id
    // gives the batch's order (less the rows whose key was taken).
    let rows = tx
        .query(
            &format!(
                "INSERT INTO stockade_job (state, template, pool, priority, args, env, memory, tasks, max_attempts,
                                           source, idempotency_key, expires_at)
                 SELECT 'queued', t.template, t.pool, t.priority, t.args, t.env, t.memory, t.tasks, t.max_attempts,
                        t.source, t.key, now() + t.timeout * interval '1 second'
                 FROM unnest($1::text[], $2::text[], $3::int[], $4::jsonb[], $5::jsonb[], $6::bigint[], $7::bigint[],
                             $8::int[], $9::text[], $10::text[], $11::float8[])
                      WITH ORDINALITY AS t(template, pool, priority, args, env, memory, tasks, max_attempts, source, key,
                                           timeout, n)
                 ORDER BY t.n
                 ON CONFLICT (idempotency_key) DO NOTHING
                 RETURNING {}",
                columns("")
            ),
            &[&templates, &pools, &priorities, &args, &env, &memory, &tasks, &attempts, &sources, &keys, &timeouts],
        )
        .await?;
    let mut made: Vec<ClusterJob> = rows.iter().map(ClusterJob::from_row).collect();
    made.sort_by_key(|j| j.id);
    let mut by_key: BTreeMap<String, ClusterJob> = BTreeMap::new();
    let mut unkeyed = Vec::new();
    for job in made {
        match &job.idempotency_key {
            Some(key) => {
                by_key.insert(key.clone(), job);
            }
            None => unkeyed.push(job),
        }
    }
    let mut unkeyed = unkeyed.into_iter();
    Ok(jobs
        .iter()
        .map(|j| match &j.idempotency_key {
            Some(key) => by_key.remove(key),
            None => unkeyed.next(),
        })
        .collect())
}

impl Member {
    /// Queue jobs cluster-wide in one transaction. Each answer says whether
    /// it is new (`false`: its idempotency key named an earlier job, which is
    /// returned instead). A full pool refuses the whole batch, queuing none.
    pub async fn submit(&self, jobs: &[NewJob]) -> Result<Vec<(ClusterJob, bool)>, ClusterError> {
        let mut client = self.client().await?;
        let pg = self.pg();
        let tx = client.transaction().await.map_err(&pg)?;
        let mut adding: BTreeMap<&str, u64> = BTreeMap::new();
        for job in jobs {
            if let Some(limit) = job.max_queued
                && !adding.contains_key(job.pool.as_str())
            {
                // One submitter at a time per pool while it counts.
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('stockade_pool:' || $1))",
                    &[&job.pool],
                )
                .await
                .map_err(&pg)?;
                let queued: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM stockade_job WHERE pool = $1 AND state = 'queued'",
                        &[&job.pool],
                    )
                    .await
                    .map_err(&pg)?
                    .get(0);
                let batch = jobs.iter().filter(|j| j.pool == job.pool).count() as u64;
                if queued as u64 + batch > limit {
                    return Err(ClusterError::QueueFull {
                        pool: job.pool.clone(),
                        queued: queued as u64,
                    });
                }
            }
            *adding.entry(job.pool.as_str()).or_default() += 1;
        }
        let inserted = insert(&tx, jobs).await.map_err(&pg)?;
        let mut out = Vec::with_capacity(jobs.len());
        for (job, inserted) in jobs.iter().zip(inserted) {
            match inserted {
                Some(new) => out.push((new, true)),
                None => {
                    let row = tx
                        .query_one(
                            &format!(
                                "SELECT {} FROM stockade_job WHERE idempotency_key = $1",
                                columns("")
                            ),
                            &[&job.idempotency_key],
                        )
                        .await
                        .map_err(&pg)?;
                    out.push((ClusterJob::from_row(&row), false));
                }
            }
        }
        tx.commit().await.map_err(&pg)?;
        for pool in adding.keys() {
            self.wake(pool);
        }
        Ok(out)
    }

    /// Claim, in one statement, the best waiting jobs that fit `budget`:
    /// per pool no more than its free slots, and in total no more memory and
    /// tasks than free. Rows another host is claiming are skipped, not waited
    /// for. Draining hosts should not call this.
    pub async fn claim(&self, budget: &Budget) -> Result<Vec<Claimed>, ClusterError> {
        let (pools, slots): (Vec<String>, Vec<i64>) = budget
            .pools
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(p, n)| (p.clone(), *n as i64))
            .unzip();
        if pools.is_empty() || budget.max == 0 {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let token = token();
        let epoch = self.epoch as i64;
        let lost = secs(self.config.lost_after);
        let memory = budget.memory.min(i64::MAX as u64) as i64;
        let tasks = budget.tasks.min(i64::MAX as u64) as i64;
        let max = budget.max.min(i64::MAX as u64) as i64;
        // The candidates are locked in priority, FIFO order inside a
        // materialized CTE (the planner may not re-run it per row: Oban's
        // fence against claiming more than LIMIT); then per-pool slots and
        // running sums of memory and tasks pick the ones that fit. Locked
        // rows that do not fit are released when the statement ends.
        let sql = format!(
            "WITH budget AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS b(pool, slots)),
             candidates AS MATERIALIZED (
                 SELECT id, pool, priority, memory, tasks FROM stockade_job
                 WHERE state = 'queued' AND pool = ANY($1) AND memory <= $3 AND tasks <= $4
                   AND (expires_at IS NULL OR expires_at > now())
                 ORDER BY priority DESC, id
                 LIMIT $5::bigint * 4
                 FOR UPDATE SKIP LOCKED),
             in_slots AS (
                 SELECT c.*, row_number() OVER (PARTITION BY c.pool ORDER BY c.priority DESC, c.id) AS n, b.slots
                 FROM candidates c JOIN budget b USING (pool)),
             sums AS (
                 SELECT id, sum(memory) OVER w AS memory_sum, sum(tasks) OVER w AS tasks_sum,
                        row_number() OVER w AS k
                 FROM in_slots WHERE n <= slots
                 WINDOW w AS (ORDER BY priority DESC, id)),
             chosen AS (SELECT id FROM sums WHERE memory_sum <= $3 AND tasks_sum <= $4 AND k <= $5::bigint)
             UPDATE stockade_job j SET state = 'running', attempt = j.attempt + 1, host = $6, lease_epoch = $7,
                    lease_token = $8, lease_expires_at = now() + $9 * interval '1 second', started_at = now(),
                    local_id = NULL, reason = NULL
             FROM chosen WHERE j.id = chosen.id
               AND EXISTS (SELECT 1 FROM stockade_host h WHERE h.name = $6 AND h.epoch = $7 AND h.state = 'live')
             RETURNING {}",
            columns("j")
        );
        let rows = client
            .query(
                &sql,
                &[&pools, &slots, &memory, &tasks, &max, &self.host, &epoch, &token, &lost],
            )
            .await
            .map_err(self.pg())?;
        let mut claimed: Vec<Claimed> = rows
            .iter()
            .map(ClusterJob::from_row)
            .filter_map(|job| Some(Claimed { fence: job.fence()?, job }))
            .collect();
        claimed.sort_by(|a, b| b.job.priority.cmp(&a.job.priority).then(a.job.id.cmp(&b.job.id)));
        Ok(claimed)
    }

    /// Note the local job id a claimed job runs as (shown by the API).
    pub async fn attach_local(&self, fence: &Fence, local_id: u64) -> Result<(), ClusterError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE stockade_job SET local_id = $5
                 WHERE id = $1 AND attempt = $2 AND lease_token = $3 AND lease_epoch = $4 AND state = 'running'",
                &[&(fence.job as i64), &(fence.attempt as i32), &fence.token, &(fence.epoch as i64), &(local_id as i64)],
            )
            .await
            .map_err(self.pg())?;
        Ok(())
    }

    /// Record how a claimed job ended, if the fence still matches.
    pub async fn complete(&self, fence: &Fence, end: &End) -> Result<Completion, ClusterError> {
        let client = self.client().await?;
        let cause = end.cause.as_ref().and_then(|c| serde_json::to_value(c).ok());
        let local = end.local_id.map(|l| l as i64);
        let n = client
            .execute(
                "UPDATE stockade_job SET state = $6, cause = $7, reason = $8, local_id = coalesce($9, local_id),
                        ended_at = now(), lease_token = NULL, lease_expires_at = NULL
                 WHERE id = $1 AND attempt = $2 AND lease_token = $3 AND lease_epoch = $4 AND host = $5
                   AND state = 'running'",
                &[
                    &(fence.job as i64),
                    &(fence.attempt as i32),
                    &fence.token,
                    &(fence.epoch as i64),
                    &self.host,
                    &end.state.as_str(),
                    &cause,
                    &end.reason,
                    &local,
                ],
            )
            .await
            .map_err(self.pg())?;
        Ok(if n == 1 { Completion::Accepted } else { Completion::Fenced })
    }

    /// Put a claimed job back in the queue without counting a run (this host
    /// is stopping, or cut itself off): another host may claim it at once.
    pub async fn give_back(&self, fence: &Fence, reason: &str) -> Result<Completion, ClusterError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE stockade_job SET state = 'queued', host = NULL, lease_epoch = NULL, lease_token = NULL,
                        lease_expires_at = NULL, local_id = NULL, started_at = NULL, reason = $5
                 WHERE id = $1 AND attempt = $2 AND lease_token = $3 AND lease_epoch = $4 AND state = 'running'",
                &[&(fence.job as i64), &(fence.attempt as i32), &fence.token, &(fence.epoch as i64), &reason],
            )
            .await
            .map_err(self.pg())?;
        if n == 1 {
            self.wake_job(fence.job).await;
            Ok(Completion::Accepted)
        } else {
            Ok(Completion::Fenced)
        }
    }

    async fn wake_job(&self, id: u64) {
        if let Ok(job) = self.job(id).await {
            self.wake(&job.pool);
        }
    }

    /// Cancel a job: a waiting one ends at once; a running one is marked,
    /// and its holder stops it at its next heartbeat or control wake-up.
    pub async fn cancel(&self, id: u64) -> Result<ClusterJob, ClusterError> {
        let client = self.client().await?;
        let pg = self.pg();
        let row = client
            .query_opt(
                &format!(
                    "UPDATE stockade_job SET
                         state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
                         ended_at = CASE WHEN state = 'queued' THEN now() ELSE ended_at END,
                         reason = CASE WHEN state = 'queued' THEN 'cancelled while waiting' ELSE reason END,
                         cancel_requested_at = CASE WHEN state = 'running' THEN coalesce(cancel_requested_at, now())
                                                    ELSE cancel_requested_at END
                     WHERE id = $1 AND state IN ('queued', 'running')
                     RETURNING {}",
                    columns("")
                ),
                &[&(id as i64)],
            )
            .await
            .map_err(&pg)?;
        match row {
            Some(row) => {
                let job = ClusterJob::from_row(&row);
                if job.state == JobState::Running {
                    let holder = job.host.clone().unwrap_or_default();
                    client
                        .execute("SELECT pg_notify($1, $2)", &[&crate::CONTROL_CHANNEL, &holder])
                        .await
                        .map_err(&pg)?;
                }
                Ok(job)
            }
            None => {
                let job = self.job(id).await?;
                Err(ClusterError::AlreadyFinished { id, state: job.state.as_str().to_owned() })
            }
        }
    }

    /// One job.
    pub async fn job(&self, id: u64) -> Result<ClusterJob, ClusterError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {} FROM stockade_job WHERE id = $1", columns("")),
                &[&(id as i64)],
            )
            .await
            .map_err(self.pg())?;
        row.map(|r| ClusterJob::from_row(&r)).ok_or(ClusterError::UnknownJob(id))
    }

    /// Jobs, newest first, and how many match in all.
    pub async fn jobs(&self, filter: &JobFilter) -> Result<(Vec<ClusterJob>, u64), ClusterError> {
        let client = self.client().await?;
        let states: Vec<String> = filter.states.iter().map(|s| s.as_str().to_owned()).collect();
        let before = filter.before.map(|b| b as i64);
        let limit = filter.limit.min(i64::MAX as u64) as i64;
        let clause =
            "(cardinality($1::text[]) = 0 OR state = ANY($1)) AND ($2::text IS NULL OR pool = $2)
                      AND ($3::text IS NULL OR template = $3)";
        let rows = client
            .query(
                &format!(
                    "SELECT {} FROM stockade_job WHERE {clause} AND ($4::bigint IS NULL OR id < $4)
                     ORDER BY id DESC LIMIT $5",
                    columns("")
                ),
                &[&states, &filter.pool, &filter.template, &before, &limit],
            )
            .await
            .map_err(self.pg())?;
        let total: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM stockade_job WHERE {clause}"),
                &[&states, &filter.pool, &filter.template],
            )
            .await
            .map_err(self.pg())?
            .get(0);
        Ok((rows.iter().map(ClusterJob::from_row).collect(), total as u64))
    }

    /// Why a waiting job is not running, judged against every live host's
    /// last published room: "no host has 8.0 GiB free; largest free 3.1 GiB
    /// on h2". `None` when some host could take it now.
    pub fn why_waiting(job: &ClusterJob, hosts: &[HostView]) -> Option<String> {
        if job.state != JobState::Queued {
            return None;
        }
        let live: Vec<&HostView> = hosts.iter().filter(|h| h.state == HostState::Live).collect();
        if live.is_empty() {
            return Some("no live host: every member is draining, lost or gone".to_owned());
        }
        let runs_pool: Vec<&&HostView> =
            live.iter().filter(|h| h.headroom.pools.contains_key(&job.pool)).collect();
        if runs_pool.is_empty() {
            return Some(format!("no live host runs pool {:?}", job.pool));
        }
        let largest = runs_pool.iter().max_by_key(|h| h.headroom.memory)?;
        if largest.headroom.memory < job.memory {
            return Some(format!(
                "no host has {} free; largest free {} on {}",
                bytes(job.memory),
                bytes(largest.headroom.memory),
                largest.name
            ));
        }
        let most_tasks = runs_pool.iter().max_by_key(|h| h.headroom.tasks)?;
        if most_tasks.headroom.tasks < job.tasks {
            return Some(format!(
                "no host has {} tasks free; most free {} on {}",
                job.tasks, most_tasks.headroom.tasks, most_tasks.name
            ));
        }
        if runs_pool.iter().all(|h| h.headroom.pools.get(&job.pool).copied().unwrap_or(0) == 0) {
            return Some(format!("pool {:?} is full on every host", job.pool));
        }
        None
    }

    /// The cluster as this member sees it.
    pub async fn view(&self, degraded: Option<String>) -> Result<ClusterView, ClusterError> {
        let client = self.client().await?;
        let pg = self.pg();
        let leader: Option<String> = client
            .query_opt(
                "SELECT host FROM stockade_leader WHERE name = 'default' AND expires_at > now()",
                &[],
            )
            .await
            .map_err(&pg)?
            .map(|r| r.get(0));
        let rows = client
            .query(
                "SELECT h.name, h.epoch, h.state, (greatest(extract(epoch from now() - h.heartbeat_at), 0) * 1000)::bigint,
                        (extract(epoch from h.started_at) * 1000)::bigint, h.version, h.headroom,
                        (SELECT count(*) FROM stockade_job j
                          WHERE j.host = h.name AND j.lease_epoch = h.epoch AND j.state = 'running')
                 FROM stockade_host h
                 ORDER BY CASE h.state WHEN 'live' THEN 0 WHEN 'draining' THEN 1 WHEN 'lost' THEN 2 ELSE 3 END, h.name",
                &[],
            )
            .await
            .map_err(&pg)?;
        let hosts = rows
            .iter()
            .map(|r| {
                let name: String = r.get(0);
                let headroom: serde_json::Value = r.get(6);
                HostView {
                    leader: leader.as_deref() == Some(name.as_str()),
                    name,
                    epoch: r.get::<_, i64>(1) as u64,
                    state: HostState::parse(&r.get::<_, String>(2)).unwrap_or(HostState::Lost),
                    lease_age_ms: r.get::<_, i64>(3).max(0) as u64,
                    started_at: r.get::<_, i64>(4).max(0) as u64,
                    version: r.get(5),
                    headroom: serde_json::from_value::<Headroom>(headroom).unwrap_or_default(),
                    running: r.get::<_, i64>(7) as u64,
                }
            })
            .collect();
        let counts = client
            .query_one(
                "SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'running') FROM stockade_job",
                &[],
            )
            .await
            .map_err(&pg)?;
        Ok(ClusterView {
            host: self.host.clone(),
            epoch: self.epoch,
            database: self.database.clone(),
            leader,
            degraded,
            heartbeat_ms: self.config.heartbeat.as_millis() as u64,
            stop_after_ms: self.config.stop_after.as_millis() as u64,
            lost_after_ms: self.config.lost_after.as_millis() as u64,
            queued: counts.get::<_, i64>(0) as u64,
            running: counts.get::<_, i64>(1) as u64,
            hosts,
        })
    }

    /// Stop or resume claiming (the state other members see at once).
    pub async fn set_draining(&self, draining: bool) -> Result<(), ClusterError> {
        let client = self.client().await?;
        let state = if draining { "draining" } else { "live" };
        let n = client
            .execute(
                "UPDATE stockade_host SET state = $3 WHERE name = $1 AND epoch = $2 AND state IN ('live', 'draining')",
                &[&self.host, &(self.epoch as i64), &state],
            )
            .await
            .map_err(self.pg())?;
        if n == 0 {
            return Err(ClusterError::Fenced { host: self.host.clone(), epoch: self.epoch });
        }
        Ok(())
    }
}
