//! `[logs]`: how long the daemon keeps what runs leave behind — their log
//! files and their post-mortems — by age and by total size.

use std::time::Duration;

/// Default `max_age`: a week of logs, like `workspace_retention`.
pub const DEFAULT_LOG_MAX_AGE: Duration = Duration::from_secs(7 * 86_400);
/// Default `postmortem_retention`: a month of post-mortems (small rows,
/// the record of why each run ended, kept longer than its output).
pub const DEFAULT_POSTMORTEM_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// The smallest `max_size`: anything less is a typo for a unit.
pub const MIN_LOGS_MAX_SIZE: u64 = 1 << 20;

/// The validated `[logs]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogsConfig {
    /// `max_age`: a log file (live or rotated) of a run that ended longer
    /// ago than this, and a rotated file last written longer ago than this,
    /// is deleted. Default 7 days.
    pub max_age: Duration,
    /// `max_size`: the most bytes all stored log files may take together;
    /// past it the oldest files of ended runs go first, and the live file
    /// of a live run never goes. `None` (default, `"unlimited"`): no bound
    /// but `max_age` and each log's rotation.
    pub max_size: Option<u64>,
    /// `postmortem_retention`: the post-mortem of a run that ended longer
    /// ago than this is deleted from the store (never one of a job still
    /// queued or running). Default 30 days.
    pub postmortem_retention: Duration,
}

impl Default for LogsConfig {
    fn default() -> LogsConfig {
        LogsConfig {
            max_age: DEFAULT_LOG_MAX_AGE,
            max_size: None,
            postmortem_retention: DEFAULT_POSTMORTEM_RETENTION,
        }
    }
}
