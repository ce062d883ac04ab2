//! What can go wrong talking to the cluster's database, typed so the daemon
//! can tell "the database is away" (degrade, keep running) from "this
//! member may not be here" (refuse to start).

/// An error from the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No connection could be had or kept: the database is down, refuses us,
    /// or the network is cut.
    #[error("the cluster database {database} is unreachable: {reason}")]
    Unreachable {
        /// The database, password redacted.
        database: String,
        /// What the driver said.
        reason: String,
    },
    /// The database was set up by a newer stockade.
    #[error(
        "the cluster database holds schema version {found}, and this stockade knows up to {known}: upgrade stockade on this host before it joins"
    )]
    SchemaTooNew {
        /// The version found.
        found: i32,
        /// The newest this build knows.
        known: i32,
    },
    /// Another live member (a different state dir) already has this name.
    #[error(
        "host name {host:?} is held by another live member (instance {instance}, its lease runs {expires_in_ms} ms more): give this host its own `[cluster] host` name, or stop the other one"
    )]
    NameTaken {
        /// The contested name.
        host: String,
        /// The other member's instance id.
        instance: String,
        /// How long its lease still runs.
        expires_in_ms: u64,
    },
    /// This member's epoch is no longer the host's: it was declared lost (or
    /// replaced by a newer start) and everything it does is refused.
    #[error(
        "epoch {epoch} of host {host:?} is fenced: the cluster no longer takes its word; rejoin with a new epoch"
    )]
    Fenced {
        /// The host.
        host: String,
        /// The fenced epoch.
        epoch: u64,
    },
    /// This host's clock is too far from the database's.
    #[error(
        "this host's clock is {skew_ms} ms off the database's, more than max_clock_skew ({max_ms} ms): fix time sync (NTP) on this host"
    )]
    Clock {
        /// Local minus database time.
        skew_ms: i64,
        /// The allowed skew.
        max_ms: u64,
    },
    /// The pool's cluster-wide `max_queued` is reached.
    #[error(
        "pool {pool:?} has {queued} jobs waiting cluster-wide, its max_queued; try again later"
    )]
    QueueFull {
        /// The pool.
        pool: String,
        /// Jobs waiting in it.
        queued: u64,
    },
    /// No job has this id.
    #[error("no cluster job with id {0}")]
    UnknownJob(u64),
    /// The job has already ended.
    #[error("cluster job {id} has already ended ({state})")]
    AlreadyFinished {
        /// The job.
        id: u64,
        /// How it ended.
        state: String,
    },
    /// The database refused a statement (a bug, or a schema someone edited).
    #[error("the cluster database refused a statement: {0}")]
    Database(String),
}

/// The error with its causes ("error connecting to server: Connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn io_source(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    // A connect that timed out carries no io::Error.
    e.to_string().contains("timed out") || e.to_string().contains("connecting")
}

impl ClusterError {
    /// True when the database could not be reached: the member degrades
    /// (stops claiming, keeps its runs) and retries.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClusterError::Unreachable { .. })
    }

    pub(crate) fn from_pg(database: &str, e: tokio_postgres::Error) -> ClusterError {
        match e.as_db_error() {
            // A server that is shutting down answers with an error too:
            // that is the database going away, not a bad statement.
            Some(db)
                if !db.code().code().starts_with("57") && !db.code().code().starts_with("08") =>
            {
                ClusterError::Database(format!("{}: {}", db.code().code(), db.message()))
            }
            Some(_) => {
                ClusterError::Unreachable { database: database.to_owned(), reason: e.to_string() }
            }
            // No answer from the server: the connection is gone or was never made.
            None if e.is_closed() || io_source(&e) => {
                ClusterError::Unreachable { database: database.to_owned(), reason: chain(&e) }
            }
            // A statement this build got wrong (parameter types, row shape).
            None => ClusterError::Database(e.to_string()),
        }
    }

    pub(crate) fn from_pool(database: &str, e: deadpool_postgres::PoolError) -> ClusterError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => ClusterError::from_pg(database, e),
            other => ClusterError::Unreachable {
                database: database.to_owned(),
                reason: other.to_string(),
            },
        }
    }
}
