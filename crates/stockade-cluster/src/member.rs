//! Membership: join with a new epoch, renew one lease per heartbeat, leave.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use stockade_proto::Headroom;
use stockade_spec::ClusterConfig;
use tokio_postgres::NoTls;

use crate::{ClusterError, Fence, schema};

/// Who is joining.
#[derive(Debug, Clone)]
pub struct MemberOptions {
    /// The `[cluster]` settings.
    pub config: ClusterConfig,
    /// This host's name, unique in the cluster.
    pub host: String,
    /// This member's instance id: kept in its state dir, so the same
    /// daemon restarted takes its name back at once while another state dir
    /// under the same name is refused.
    pub instance: String,
    /// The stockade version it runs.
    pub version: String,
}

/// What a join found.
#[derive(Debug, Clone, Default)]
pub struct Joined {
    /// Jobs this host held in its previous life whose lease had not run out:
    /// re-fenced to the new epoch. The daemon matches them with the runs it
    /// adopted; any it has no run for it gives back.
    pub kept: Vec<Fence>,
    /// How far this host's clock is from the database's (local − database).
    pub clock_skew_ms: i64,
}

/// One job a heartbeat renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Its fence.
    pub fence: Fence,
    /// A cancel was asked for.
    pub cancel: bool,
}

/// What a heartbeat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beat {
    /// The lease is renewed; these are the jobs the cluster says we hold.
    /// A local run of a job not in here was taken away: stop it, report
    /// nothing.
    Renewed {
        /// The jobs renewed with it.
        held: Vec<Held>,
    },
    /// The host's row no longer has our epoch: we were declared lost (or a
    /// newer start took the name). Stop every cluster run and rejoin.
    Fenced,
}

/// One daemon's membership of the cluster.
#[derive(Clone)]
pub struct Member {
    pub(crate) pool: Pool,
    pub(crate) config: ClusterConfig,
    pub(crate) database: String,
    pub(crate) host: String,
    pub(crate) epoch: u64,
    pub(crate) notifier: Arc<Mutex<std::collections::BTreeSet<String>>>,
    pub(crate) notify: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("host", &self.host).field("epoch", &self.epoch).finish()
    }
}

pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn unix_ms_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// This host's clock minus the database's, judged at the midpoint of the
/// round trip that read the database's; refused beyond `max`.
pub(crate) fn clock_skew(
    before: i64,
    db_now: i64,
    after: i64,
    max: Duration,
) -> Result<i64, ClusterError> {
    let skew_ms = before + (after - before) / 2 - db_now;
    let max_ms = max.as_millis() as u64;
    if skew_ms.unsigned_abs() > max_ms {
        return Err(ClusterError::Clock { skew_ms, max_ms });
    }
    Ok(skew_ms)
}

/// The connection settings for `config.database`, with the timeouts a
/// member needs (used by the pool and by the LISTEN connection).
pub(crate) fn connection_config(
    config: &ClusterConfig,
) -> Result<tokio_postgres::Config, ClusterError> {
    let database = config.database_redacted();
    let mut pg = tokio_postgres::Config::from_str(&config.database).map_err(|e| {
        ClusterError::Unreachable {
            database: database.clone(),
            reason: format!("not a PostgreSQL connection string: {e}"),
        }
    })?;
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(Duration::from_secs(3));
    }
    // A connection cut by a partition answers nothing; without these a
    // query on it would wait for TCP's retransmissions (many minutes). With
    // them the kernel fails it, the client closes, and the pool drops it.
    let patience =
        (config.stop_after / 2).clamp(Duration::from_millis(500), Duration::from_secs(5));
    pg.tcp_user_timeout(patience);
    // Keepalive times are whole seconds to the kernel (0 is EINVAL).
    pg.keepalives_idle(Duration::from_secs(patience.as_secs().max(1)));
    pg.keepalives_interval(Duration::from_secs(1));
    pg.application_name("stockade");
    Ok(pg)
}

/// A connection pool for `config.database`.
pub(crate) fn pool(config: &ClusterConfig, size: usize) -> Result<Pool, ClusterError> {
    let database = config.database_redacted();
    let pg = connection_config(config)?;
    let manager =
        Manager::from_config(pg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let pool = Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(Duration::from_secs(3)))
        .wait_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| ClusterError::Unreachable { database, reason: e.to_string() })?;
    Ok(pool)
}

impl Member {
    /// Join the cluster: migrate the schema if needed, check the clock, take
    /// this host's name with a new epoch, and take back the jobs of its
    /// previous life whose lease still runs.
    pub async fn join(options: MemberOptions) -> Result<(Member, Joined), ClusterError> {
        let database = options.config.database_redacted();
        let pool = pool(&options.config, 8)?;
        let pg = |e| ClusterError::from_pg(&database, e);
        let mut client = pool.get().await.map_err(|e| ClusterError::from_pool(&database, e))?;
        schema::migrate(&mut client, &database).await?;

        let before = unix_ms_now();
        let db_now: i64 = client
            .query_one("SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint", &[])
            .await
            .map_err(pg)?
            .get(0);
        let after = unix_ms_now();
        let clock_skew_ms = clock_skew(before, db_now, after, options.config.max_clock_skew)?;

        let lost = secs(options.config.lost_after);
        let tx = client.transaction().await.map_err(pg)?;
        let holder = tx
            .query_opt(
                "SELECT instance, state, (greatest(extract(epoch from lease_expires_at - now()), 0) * 1000)::bigint
                 FROM stockade_host WHERE name = $1 FOR UPDATE",
                &[&options.host],
            )
            .await
            .map_err(pg)?;
        if let Some(row) = holder {
            let instance: String = row.get(0);
            let state: String = row.get(1);
            let expires_in_ms: i64 = row.get(2);
            if instance != options.instance
                && (state == "live" || state == "draining")
                && expires_in_ms > 0
            {
                return Err(ClusterError::NameTaken {
                    host: options.host,
                    instance,
                    expires_in_ms: expires_in_ms as u64,
                });
            }
        }
        let epoch: i64 = tx
            .query_one(
                "INSERT INTO stockade_host AS h (name, instance, epoch, state, started_at, heartbeat_at, lease_expires_at, version)
                 VALUES ($1, $2, 1, 'live', now(), now(), now() + $3 * interval '1 second', $4)
                 ON CONFLICT (name) DO UPDATE SET
                     instance = excluded.instance, epoch = h.epoch + 1, state = 'live', started_at = now(),
                     heartbeat_at = now(), lease_expires_at = excluded.lease_expires_at, version = excluded.version
                 RETURNING epoch",
                &[&options.host, &options.instance, &lost, &options.version],
            )
            .await
            .map_err(pg)?
            .get(0);
        // The previous life's jobs, re-fenced to this one while their lease
        // still runs (a restart within `lost_after` keeps its runs).
        let kept = tx
            .query(
                "UPDATE stockade_job SET lease_epoch = $2, lease_expires_at = now() + $3 * interval '1 second'
                 WHERE host = $1 AND state = 'running' AND lease_epoch < $2 AND lease_expires_at > now()
                 RETURNING id, attempt, lease_token",
                &[&options.host, &epoch, &lost],
            )
            .await
            .map_err(pg)?
            .iter()
            .map(|row| Fence {
                job: row.get::<_, i64>(0) as u64,
                attempt: row.get::<_, i32>(1) as u32,
                token: row.get(2),
                epoch: epoch as u64,
            })
            .collect();
        tx.commit().await.map_err(pg)?;
        drop(client);
        tracing::info!(host = %options.host, epoch, "joined the cluster");

        let member = Member {
            pool,
            config: options.config,
            database,
            host: options.host,
            epoch: epoch as u64,
            notifier: Arc::default(),
            notify: Arc::default(),
        };
        member.spawn_notifier();
        Ok((member, Joined { kept, clock_skew_ms }))
    }

    /// This host's name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// This life's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The settings it joined with.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, ClusterError> {
        self.pool.get().await.map_err(|e| ClusterError::from_pool(&self.database, e))
    }

    pub(crate) fn pg(&self) -> impl Fn(tokio_postgres::Error) -> ClusterError + '_ {
        |e| ClusterError::from_pg(&self.database, e)
    }

    /// Renew this host's lease and every lease of the jobs it holds, in one
    /// statement; publish its room. No write per job.
    pub async fn heartbeat(
        &self,
        headroom: &Headroom,
        draining: bool,
    ) -> Result<Beat, ClusterError> {
        let client = self.client().await?;
        let headroom = serde_json::to_value(headroom).unwrap_or_default();
        let lost = secs(self.config.lost_after);
        let epoch = self.epoch as i64;
        let rows = client
            .query(
                "WITH h AS (
                     UPDATE stockade_host SET heartbeat_at = now(), lease_expires_at = now() + $3 * interval '1 second',
                            headroom = $4, state = CASE WHEN $5 THEN 'draining' ELSE 'live' END
                     WHERE name = $1 AND epoch = $2 AND state IN ('live', 'draining')
                     RETURNING name),
                 j AS (
                     UPDATE stockade_job SET lease_expires_at = now() + $3 * interval '1 second'
                     WHERE host = $1 AND lease_epoch = $2 AND state = 'running' AND EXISTS (SELECT 1 FROM h)
                     RETURNING id, attempt, lease_token, cancel_requested_at IS NOT NULL AS cancel)
                 SELECT NULL::bigint, NULL::integer, NULL::text, false FROM h
                 UNION ALL SELECT id, attempt, lease_token, cancel FROM j",
                &[&self.host, &epoch, &lost, &headroom, &draining],
            )
            .await
            .map_err(self.pg())?;
        let mut renewed = false;
        let mut held = Vec::new();
        for row in &rows {
            match row.get::<_, Option<i64>>(0) {
                None => renewed = true,
                Some(id) => held.push(Held {
                    fence: Fence {
                        job: id as u64,
                        attempt: row.get::<_, i32>(1) as u32,
                        token: row.get(2),
                        epoch: self.epoch,
                    },
                    cancel: row.get(3),
                }),
            }
        }
        if !renewed {
            return Ok(Beat::Fenced);
        }
        held.sort_by_key(|h| h.fence.job);
        Ok(Beat::Renewed { held })
    }

    /// Say this host is leaving: its lease ends now and it gives up the
    /// leader's lease. Jobs it still holds should be given back first.
    pub async fn leave(&self) -> Result<(), ClusterError> {
        let client = self.client().await?;
        let epoch = self.epoch as i64;
        client
            .execute(
                "UPDATE stockade_host SET state = 'left', lease_expires_at = now() WHERE name = $1 AND epoch = $2",
                &[&self.host, &epoch],
            )
            .await
            .map_err(self.pg())?;
        client
            .execute(
                "DELETE FROM stockade_leader WHERE host = $1 AND epoch = $2",
                &[&self.host, &epoch],
            )
            .await
            .map_err(self.pg())?;
        client
            .execute("SELECT pg_notify($1, $2)", &[&crate::CONTROL_CHANNEL, &self.host])
            .await
            .map_err(self.pg())?;
        Ok(())
    }

    /// Coalesce insert wake-ups: at most one `NOTIFY` per pool per 100 ms,
    /// sent after the submitting transaction committed (never inside it:
    /// a pending NOTIFY takes a database-wide lock at commit). The first
    /// wake-up after a quiet spell goes out at once; the ones during the
    /// next 100 ms are sent together at its end.
    fn spawn_notifier(&self) {
        let pending = Arc::downgrade(&self.notifier);
        let notify = self.notify.clone();
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                // The check every second ends the task once the member is gone.
                let _ = tokio::time::timeout(Duration::from_secs(1), notify.notified()).await;
                let Some(pending) = pending.upgrade() else { return };
                let pools: Vec<String> =
                    std::mem::take(&mut *pending.lock().unwrap_or_else(|p| p.into_inner()))
                        .into_iter()
                        .collect();
                drop(pending);
                if pools.is_empty() {
                    continue;
                }
                // A lost wake-up costs one poll interval; never retried here.
                if let Ok(client) = pool.get().await {
                    let _ = client
                        .execute(
                            "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
                            &[&crate::INSERT_CHANNEL, &pools],
                        )
                        .await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }

    pub(crate) fn wake(&self, pool: &str) {
        self.notifier.lock().unwrap_or_else(|p| p.into_inner()).insert(pool.to_owned());
        self.notify.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_thirty_seconds_off_is_refused_and_a_slow_round_trip_is_not_skew() {
        let max = Duration::from_secs(2);
        // 30 s ahead of the database: refused, naming the skew.
        let err = clock_skew(1_000_030_000, 1_000_000_010, 1_000_030_020, max).unwrap_err();
        assert!(matches!(err, ClusterError::Clock { skew_ms: 30_000, max_ms: 2000 }), "{err}");
        assert!(err.to_string().contains("30000 ms off"), "{err}");
        // Behind is as bad as ahead.
        assert!(clock_skew(1_000_000_000, 1_000_030_000, 1_000_000_000, max).is_err());
        // A 3 s round trip with the database stamping its middle: in step.
        assert_eq!(clock_skew(1_000_000_000, 1_000_001_500, 1_000_003_000, max).unwrap(), 0);
        assert_eq!(clock_skew(1_000_000_000, 1_000_000_000, 1_000_000_000, max).unwrap(), 0);
    }
}
