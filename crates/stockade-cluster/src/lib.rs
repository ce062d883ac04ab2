//! Several stockade hosts sharing one PostgreSQL job queue.
//!
//! A [`Member`] is one daemon's membership: it joins under its host name
//! with a new **epoch** (the fencing token of this life), renews one lease
//! for itself and all the jobs it holds with one statement per heartbeat,
//! claims only the jobs that fit its own room (`FOR UPDATE SKIP LOCKED`),
//! and reports an ending only with the job's attempt, lease token and its
//! epoch — so a host that was cut off and declared lost can never overwrite
//! what the cluster decided meanwhile. The leader (a lease row, never on the
//! claim path) re-queues the jobs of hosts whose lease ran out and expires
//! jobs past their `queue_timeout`.
//!
//! The database's clock decides every lease; a member's own deadlines (its
//! self-fence at `stop_after`) run on its monotonic clock from the moment
//! it *sent* its last successful renewal, which is never later than the
//! database stamped it. So `stop_after + margin < lost_after` holds whatever
//! the wall clocks say; `max_clock_skew` is checked at join only to catch a
//! host whose times in the API would mislead.

mod error;
mod job;
mod leader;
mod listen;
mod member;
mod queue;
mod schema;

pub use error::ClusterError;
pub use job::{ClusterJob, JobFilter};
pub use leader::Rescue;
pub use listen::{Wake, listen};
pub use member::{Beat, Held, Joined, Member, MemberOptions};
pub use queue::{Budget, Claimed, Completion, End, NewJob};
pub use schema::SCHEMA_VERSION;

/// What fences one claim of one job: a completion, a renewal or a give-back
/// is accepted only with all four matching the row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The cluster job id.
    pub job: u64,
    /// Its claim count: each claim takes the next.
    pub attempt: u32,
    /// A random token minted by the claim.
    pub token: String,
    /// The claiming host's epoch.
    pub epoch: u64,
}

impl Fence {
    /// The local idempotency key of this claim's run: a daemon restarted
    /// mid-run finds its local job again by it.
    pub fn local_key(&self) -> String {
        format!("cluster:{}:{}", self.job, self.attempt)
    }

    /// The (job, attempt) a [`Fence::local_key`] names.
    pub fn parse_local_key(key: &str) -> Option<(u64, u32)> {
        let rest = key.strip_prefix("cluster:")?;
        let (job, attempt) = rest.split_once(':')?;
        Some((job.parse().ok()?, attempt.parse().ok()?))
    }
}

/// `pg_notify` channel: a pool has new work (payload: the pool).
pub const INSERT_CHANNEL: &str = "stockade_insert";
/// `pg_notify` channel: a cancel was requested or a host changed (payload: a host name or empty).
pub const CONTROL_CHANNEL: &str = "stockade_control";
