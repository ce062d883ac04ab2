//! `[job.NAME]`: a template for queued work.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use stockade_proto::Limits;

use super::environment::{EnvFile, EnvPattern};
use super::schedule::Schedule;
use super::walls::Isolation;

/// Cause kinds (`ExitCause::kind`) a job may be retried on. `stopped` and
/// `spawn_failed` are not retryable: one was asked for, the other will fail again.
pub const RETRYABLE_CAUSES: [&str; 7] =
    ["exited", "signaled", "oom_killed", "pids_limit", "timed_out", "lost", "liveness_failed"];

/// A validated job template.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// The template's name (unique across services and jobs).
    pub name: String,
    /// argv; never empty. Submitted args are appended.
    pub command: Vec<String>,
    /// Extra environment; a submission's env (keys in `submit_env` only) is
    /// merged over it.
    pub env: BTreeMap<String, String>,
    /// Working directory, absolute.
    pub cwd: Option<PathBuf>,
    /// The pool it queues in (default `default`); always a pool of the spec.
    pub pool: String,
    /// Wall-clock limit per run: TERM, grace, then the box is killed.
    pub timeout: Option<Duration>,
    /// Higher runs first (default 0); a submission may override it.
    pub priority: i32,
    /// Retry policy.
    pub retries: Retries,
    /// What a run that ends `interrupted` (host reboot, box vanished) does.
    pub on_interrupt: OnInterrupt,
    /// Limits of each run's box, already merged over the defaults.
    pub limits: Limits,
    /// `isolation` and the walls (default: walled).
    pub isolation: Isolation,
    /// `env_file`, read when the spec was read.
    pub env_file: Option<EnvFile>,
    /// `inherit_env`: daemon variables a walled box may see.
    pub inherit_env: Vec<EnvPattern>,
    /// `submit_env`: the only env keys a submission may set (default none);
    /// never one of [`crate::FORBIDDEN_SUBMIT_ENV`] or `LD_*`.
    pub submit_env: Vec<String>,
    /// `every` or `cron`: submitted on schedule (`None`: only on request).
    pub schedule: Option<Schedule>,
}

/// `retries`: how many times a failed job runs again, and on which causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retries {
    /// Extra attempts after the first (default 0).
    pub max: u32,
    /// Delay before each retry (default 10s).
    pub backoff: Duration,
    /// Cause kinds that are retried (default `["exited", "lost"]`; OOM and
    /// pids-limit deaths would fail the same way again, so they are opt-in).
    pub on: Vec<String>,
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            max: 0,
            backoff: Duration::from_secs(10),
            on: vec!["exited".to_owned(), "lost".to_owned()],
        }
    }
}

/// `on_interrupt`: what becomes of a job whose run ended `interrupted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnInterrupt {
    /// Queue it again at the same attempt: the retry budget is not spent.
    #[default]
    Requeue,
    /// The job fails.
    Fail,
}

impl OnInterrupt {
    /// The spelling of each value in a spec.
    pub const NAMES: [&'static str; 2] = ["requeue", "fail"];

    /// The value named `name`.
    pub fn from_name(name: &str) -> Option<OnInterrupt> {
        match name {
            "requeue" => Some(OnInterrupt::Requeue),
            "fail" => Some(OnInterrupt::Fail),
            _ => None,
        }
    }
}
