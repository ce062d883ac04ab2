//! `[cluster]`: membership of a cluster of stockade hosts sharing one
//! PostgreSQL job queue. Absent (and no `STOCKADE_DATABASE`): one host, SQLite.

use std::time::Duration;

/// Default `heartbeat`: how often a member renews its host lease (and, in the
/// same statement, the leases of every job it runs).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(2);
/// Default `stop_after`: a member that could not renew its lease for this
/// long stops its own runs (self-fencing).
pub const DEFAULT_STOP_AFTER: Duration = Duration::from_secs(10);
/// Default `lost_after`: the leader declares a member lost, and re-queues its
/// jobs, once its lease is this old. River rescues after 1 h, Oban OSS after
/// 60 min, graphile-worker after 4 h.
pub const DEFAULT_LOST_AFTER: Duration = Duration::from_secs(20);
/// Default `max_clock_skew`: the clock difference between members (and the
/// database) the lease arithmetic tolerates.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(2);
/// Default `poll`: a member looks for work this often even without a
/// `NOTIFY` (a lost notification costs at most this much latency).
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);
/// The environment variable that makes a daemon a member without the key.
pub const STOCKADE_DATABASE: &str = "STOCKADE_DATABASE";

/// The validated `[cluster]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `database`: a `postgres://` (or `postgresql://`) URL, or libpq
    /// `key=value` pairs; from the spec or `$STOCKADE_DATABASE`.
    pub database: String,
    /// `host`: this member's name, unique in the cluster (default: the
    /// machine's hostname).
    pub host: Option<String>,
    /// `heartbeat`: time between lease renewals.
    pub heartbeat: Duration,
    /// `stop_after`: unrenewed this long, the member stops its runs.
    pub stop_after: Duration,
    /// `lost_after`: unrenewed this long, the leader rescues the member's jobs.
    pub lost_after: Duration,
    /// `max_clock_skew`: tolerated clock difference between members.
    pub max_clock_skew: Duration,
    /// `poll`: time between claims when no notification arrives.
    pub poll: Duration,
}

impl ClusterConfig {
    /// A config with the defaults for `database`.
    pub fn new(database: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            database: database.into(),
            host: None,
            heartbeat: DEFAULT_HEARTBEAT,
            stop_after: DEFAULT_STOP_AFTER,
            lost_after: DEFAULT_LOST_AFTER,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            poll: DEFAULT_POLL,
        }
    }

    /// Why these lease settings cannot be safe, if they cannot: a member
    /// must stop its runs (`stop_after`) before anyone may take them
    /// (`lost_after`), with the clock skew and one heartbeat in between, and
    /// must get at least two tries at renewing before it stops.
    pub fn unsafe_leases(&self) -> Option<String> {
        if self.heartbeat * 2 > self.stop_after {
            return Some(format!(
                "stop_after ({:?}) must be at least twice heartbeat ({:?}), or one slow renewal stops every run",
                self.stop_after, self.heartbeat
            ));
        }
        let margin = self.max_clock_skew + self.heartbeat;
        if self.stop_after + margin > self.lost_after {
            return Some(format!(
                "stop_after ({:?}) + max_clock_skew ({:?}) + heartbeat ({:?}) must not exceed lost_after ({:?}): a cut-off member could still be running a job when another host takes it",
                self.stop_after, self.max_clock_skew, self.heartbeat, self.lost_after
            ));
        }
        None
    }

    /// The database URL with any password replaced by `***`, for logs and
    /// `status`.
    pub fn database_redacted(&self) -> String {
        redact(&self.database)
    }
}

/// `postgres://user:secret@h/db` → `postgres://user:***@h/db`; libpq
/// `password=secret` → `password=***`.
pub fn redact(database: &str) -> String {
    if let Some((scheme, rest)) = database.split_once("://") {
        // The user info ends at the last `@` (a password may hold one).
        if let Some((auth, host)) = rest.rsplit_once('@')
            && let Some((user, _)) = auth.split_once(':')
        {
            return format!("{scheme}://{user}:***@{host}");
        }
        return database.to_owned();
    }
    database
        .split_whitespace()
        .map(|kv| if kv.starts_with("password=") { "password=***" } else { kv })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_safe_and_a_long_stop_after_is_not() {
        let config = ClusterConfig::new("postgres://x");
        assert_eq!(config.unsafe_leases(), None);
        let late = ClusterConfig { stop_after: Duration::from_secs(19), ..config.clone() };
        assert!(late.unsafe_leases().unwrap().contains("must not exceed lost_after"));
        let jumpy = ClusterConfig { heartbeat: Duration::from_secs(6), ..config };
        assert!(jumpy.unsafe_leases().unwrap().contains("twice heartbeat"));
    }

    #[test]
    fn passwords_are_redacted_in_both_forms() {
        assert_eq!(redact("postgres://me:pw@db:5432/q"), "postgres://me:***@db:5432/q");
        assert_eq!(redact("postgres://db/q"), "postgres://db/q");
        assert_eq!(redact("postgres://me:p@ss@db/q"), "postgres://me:***@db/q");
        assert_eq!(redact("host=/tmp user=me password=pw"), "host=/tmp user=me password=***");
    }
}
