//! `[pool.NAME]`: an admission domain for jobs.

use std::time::Duration;

/// The pool every job uses unless it names another. It always exists; when the
/// spec does not declare it, it has `max_concurrency = 4` (a fixed number rather
/// than the CPU count, so a spec means the same thing on every host) and the
/// other defaults below.
pub const DEFAULT_POOL: &str = "default";
/// `max_concurrency` of an undeclared `default` pool.
pub const DEFAULT_POOL_CONCURRENCY: u32 = 4;
/// Default `max_queued`.
pub const DEFAULT_MAX_QUEUED: u64 = 10_000;

/// A validated pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    /// The pool's name.
    pub name: String,
    /// How many of its jobs may run at once.
    pub max_concurrency: Concurrency,
    /// Queued jobs beyond this are rejected with a typed error.
    pub max_queued: u64,
    /// A job not started within this time expires.
    pub queue_timeout: Option<Duration>,
}

/// `max_concurrency`: a number, or `"auto"` (adaptive admission between `min` and `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Exactly this many at once (at least 1).
    Fixed(u32),
    /// Adaptive, within bounds. `min` defaults to 1, `max` to 4 × the host's CPUs.
    Auto {
        /// Lower bound (at least 1).
        min: u32,
        /// Upper bound (at least `min`).
        max: u32,
    },
}

impl PoolSpec {
    /// The implicit `default` pool.
    pub fn implicit_default() -> PoolSpec {
        PoolSpec {
            name: DEFAULT_POOL.to_owned(),
            max_concurrency: Concurrency::Fixed(DEFAULT_POOL_CONCURRENCY),
            max_queued: DEFAULT_MAX_QUEUED,
            queue_timeout: None,
        }
    }
}
