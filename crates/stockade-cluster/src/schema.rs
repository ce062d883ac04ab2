//! The cluster's tables, created and upgraded in order under an advisory
//! lock, so members starting together migrate once. A database set up by a
//! newer stockade is refused, never written to.

use tokio_postgres::Client;

use crate::ClusterError;

/// `pg_advisory_xact_lock` key held while migrating ("stockade" in ASCII).
const MIGRATION_LOCK: i64 = 0x73746f636b616465;

/// Each version's statements; never edit a shipped one, add the next.
const MIGRATIONS: &[(i32, &str)] = &[(1, V1)];

/// The newest schema this build knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

const V1: &str = r#"
CREATE TABLE stockade_host (
    name             text PRIMARY KEY,
    instance         text NOT NULL,
    epoch            bigint NOT NULL,
    state            text NOT NULL CHECK (state IN ('live', 'draining', 'lost', 'left')),
    started_at       timestamptz NOT NULL,
    heartbeat_at     timestamptz NOT NULL,
    lease_expires_at timestamptz NOT NULL,
    version          text NOT NULL,
    headroom         jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE stockade_job (
    id                  bigserial PRIMARY KEY,
    state               text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
    template            text NOT NULL,
    pool                text NOT NULL,
    priority            integer NOT NULL,
    args                jsonb NOT NULL DEFAULT '[]',
    env                 jsonb NOT NULL DEFAULT '{}',
    memory              bigint NOT NULL,
    tasks               bigint NOT NULL,
    max_attempts        integer NOT NULL,
    source              text NOT NULL,
    idempotency_key     text UNIQUE,
    attempt             integer NOT NULL DEFAULT 0,
    rescues             integer NOT NULL DEFAULT 0,
    host                text,
    lease_epoch         bigint,
    lease_token         text,
    lease_expires_at    timestamptz,
    local_id            bigint,
    submitted_at        timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    ended_at            timestamptz,
    expires_at          timestamptz,
    cancel_requested_at timestamptz,
    cause               jsonb,
    reason              text
);
-- The claim: waiting jobs of a pool, best first.
CREATE INDEX stockade_job_waiting ON stockade_job (pool, priority DESC, id) WHERE state = 'queued';
-- The heartbeat and the rescue: running jobs by holder and by lease.
CREATE INDEX stockade_job_held ON stockade_job (host, lease_epoch) WHERE state = 'running';
CREATE INDEX stockade_job_leases ON stockade_job (lease_expires_at) WHERE state = 'running';

-- The leader's lease: maintenance only (rescue, expiry, schedules), never
-- on the claim path. UNLOGGED: lost on a database crash, which only means
-- a new election.
CREATE UNLOGGED TABLE stockade_leader (
    name       text PRIMARY KEY CHECK (name = 'default'),
    host       text NOT NULL,
    epoch      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Scheduled templates' last fired slot, cluster-wide.
CREATE TABLE stockade_schedule (
    template  text PRIMARY KEY,
    last_slot timestamptz NOT NULL
);
"#;

/// Bring the database to [`SCHEMA_VERSION`], or refuse a newer one.
pub(crate) async fn migrate(client: &mut Client, database: &str) -> Result<(), ClusterError> {
    let pg = |e| ClusterError::from_pg(database, e);
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS stockade_schema_version (version integer NOT NULL)",
    )
    .await
    .map_err(pg)?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM stockade_schema_version", &[])
        .await
        .map_err(pg)?
        .get(0);
    if found > SCHEMA_VERSION {
        return Err(ClusterError::SchemaTooNew { found, known: SCHEMA_VERSION });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute("INSERT INTO stockade_schema_version (version) VALUES ($1)", &[version])
            .await
            .map_err(pg)?;
        tracing::info!(version, "cluster schema migrated");
    }
    tx.commit().await.map_err(pg)
}
