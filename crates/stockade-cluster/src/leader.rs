//! The leader: one member at a time, by a lease row, does the maintenance —
//! re-queue the jobs of hosts whose lease ran out, mark those hosts lost,
//! expire jobs past their `queue_timeout`, fire schedules once. Never on the
//! claim path: with no leader, claims and completions go on.

use crate::member::secs;
use crate::{ClusterError, Member};

/// A lost host can cost a job this many rescues; then it fails (a job that
/// takes its host down each time must not take the whole cluster down).
pub const MAX_RESCUES: i32 = 5;

/// Record a schedule's slot, only ever forward (a slot at or before the
/// recorded one changes no row).
const ADVANCE_SLOT: &str =
    "INSERT INTO stockade_schedule AS s (template, last_slot) VALUES ($1, to_timestamp($2))
     ON CONFLICT (template) DO UPDATE SET last_slot = excluded.last_slot
     WHERE s.last_slot < excluded.last_slot";

/// What one rescue pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rescue {
    /// Hosts marked lost (name, epoch).
    pub lost: Vec<(String, u64)>,
    /// Jobs re-queued (id, from host).
    pub requeued: Vec<(u64, String)>,
    /// Jobs failed: rescued too often (id, from host).
    pub failed: Vec<(u64, String)>,
}

impl Member {
    /// Take or keep the leader's lease; true while this member leads. The
    /// lease runs `lost_after`, and is renewed every heartbeat.
    pub async fn lead(&self) -> Result<bool, ClusterError> {
        let client = self.client().await?;
        let ttl = secs(self.config.lost_after);
        let epoch = self.epoch as i64;
        let row = client
            .query_opt(
                "INSERT INTO stockade_leader AS l (name, host, epoch, expires_at)
                 VALUES ('default', $1, $2, now() + $3 * interval '1 second')
                 ON CONFLICT (name) DO UPDATE SET host = excluded.host, epoch = excluded.epoch, expires_at = excluded.expires_at
                 WHERE l.expires_at < now() OR (l.host = excluded.host AND l.epoch = excluded.epoch)
                 RETURNING host",
                &[&self.host, &epoch, &ttl],
            )
            .await
            .map_err(self.pg())?;
        Ok(row.is_some())
    }

    /// Re-queue every running job whose lease ran out (its host stopped
    /// renewing, or a restarted host did not take it back), without spending
    /// its retry budget, and mark hosts whose own lease ran out `lost`, so
    /// their epoch can never be renewed again.
    pub async fn rescue(&self) -> Result<Rescue, ClusterError> {
        let mut client = self.client().await?;
        let pg = self.pg();
        let tx = client.transaction().await.map_err(&pg)?;
        let lost = tx
            .query(
                "UPDATE stockade_host SET state = 'lost'
                 WHERE state IN ('live', 'draining') AND lease_expires_at < now()
                 RETURNING name, epoch",
                &[],
            )
            .await
            .map_err(&pg)?
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
            .collect();
        let rows = tx
            .query(
                "UPDATE stockade_job SET
                     state = CASE WHEN rescues + 1 >= $1 THEN 'failed' ELSE 'queued' END,
                     ended_at = CASE WHEN rescues + 1 >= $1 THEN now() ELSE NULL END,
                     rescues = rescues + 1,
                     reason = format('host %s (epoch %s) stopped renewing its lease', host, lease_epoch),
                     cause = CASE WHEN rescues + 1 >= $1 THEN jsonb_build_object('kind', 'lost') ELSE cause END,
                     lease_token = NULL, lease_expires_at = NULL, started_at = NULL,
                     host = CASE WHEN rescues + 1 >= $1 THEN host ELSE NULL END,
                     lease_epoch = NULL, local_id = NULL
                 WHERE state = 'running' AND lease_expires_at < now()
                 RETURNING id, state, split_part(split_part(reason, 'host ', 2), ' (epoch', 1), pool",
                &[&MAX_RESCUES],
            )
            .await
            .map_err(&pg)?;
        tx.commit().await.map_err(&pg)?;
        let mut rescue = Rescue { lost, ..Rescue::default() };
        for r in &rows {
            let id = r.get::<_, i64>(0) as u64;
            let from: String = r.get(2);
            if r.get::<_, String>(1) == "queued" {
                self.wake(&r.get::<_, String>(3));
                rescue.requeued.push((id, from));
            } else {
                rescue.failed.push((id, from));
            }
        }
        if !rescue.lost.is_empty() || !rows.is_empty() {
            tracing::warn!(lost = ?rescue.lost, requeued = rescue.requeued.len(), failed = rescue.failed.len(), "rescued jobs of lost hosts");
        }
        Ok(rescue)
    }

    /// Expire waiting jobs past their `queue_timeout`; their ids.
    pub async fn expire(&self) -> Result<Vec<u64>, ClusterError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "UPDATE stockade_job SET state = 'expired', ended_at = now(),
                        reason = 'not started before its queue_timeout on any host'
                 WHERE state = 'queued' AND expires_at < now() RETURNING id",
                &[],
            )
            .await
            .map_err(self.pg())?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
    }

    /// The last slot a schedule fired for, cluster-wide (Unix ms).
    pub async fn last_slot(&self, template: &str) -> Result<Option<u64>, ClusterError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT (extract(epoch from last_slot) * 1000)::bigint FROM stockade_schedule WHERE template = $1",
                &[&template],
            )
            .await
            .map_err(self.pg())?;
        Ok(row.map(|r| r.get::<_, i64>(0).max(0) as u64))
    }

    /// Fire `template`'s schedule for `slot_ms` exactly once cluster-wide:
    /// the slot is recorded and the job queued in one transaction, and a
    /// slot at or before the recorded one is not fired again (a second
    /// leader racing the first queues nothing). The new job, if fired.
    pub async fn fire_schedule(
        &self,
        slot_ms: u64,
        job: &crate::NewJob,
    ) -> Result<Option<u64>, ClusterError> {
        let mut client = self.client().await?;
        let pg = self.pg();
        let tx = client.transaction().await.map_err(&pg)?;
        let slot = slot_ms as f64 / 1000.0;
        let advanced = tx.execute(ADVANCE_SLOT, &[&job.template, &slot]).await.map_err(&pg)?;
        if advanced == 0 {
            return Ok(None);
        }
        let mut job = job.clone();
        job.source = stockade_proto::JobSource::Schedule;
        job.idempotency_key = Some(format!("schedule:{}:{slot_ms}", job.template));
        let row = crate::queue::insert(&tx, std::slice::from_ref(&job))
            .await
            .map_err(&pg)?
            .pop()
            .flatten();
        tx.commit().await.map_err(&pg)?;
        self.wake(&job.pool);
        Ok(row.map(|j| j.id))
    }

    /// Record `slot_ms` as `template`'s last slot without queuing a job (a
    /// slot skipped by `overlap = "skip"` or `catch_up = "none"`); false if
    /// a later slot was recorded already.
    pub async fn record_slot(&self, template: &str, slot_ms: u64) -> Result<bool, ClusterError> {
        let client = self.client().await?;
        let slot = slot_ms as f64 / 1000.0;
        let n = client.execute(ADVANCE_SLOT, &[&template, &slot]).await.map_err(self.pg())?;
        Ok(n == 1)
    }

    /// Whether a job of `template` is waiting or running (a schedule's
    /// `overlap = "skip"`).
    pub async fn live_job_of(&self, template: &str) -> Result<Option<u64>, ClusterError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id FROM stockade_job WHERE template = $1 AND state IN ('queued', 'running') ORDER BY id LIMIT 1",
                &[&template],
            )
            .await
            .map_err(self.pg())?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }
}
