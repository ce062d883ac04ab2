//! How a run ended ([`ExitCause`]) and the facts that decided it ([`Evidence`]).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a run ended. The JSON form is `{"kind": "<snake_case>", ...fields}`
/// (DESIGN.md §7a).
///
/// Rules that decide between causes live in `stockade-sandbox` (`classify`):
/// `OomKilled` only when the main process died by SIGKILL *and* the box's
/// `oom_kill` counter rose during the run; otherwise an OOM kill inside the box
/// is a side fact in [`Evidence::oom_kills`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExitCause {
    /// The main process exited with a status code.
    Exited {
        /// The exit status (0–255).
        code: i32,
    },
    /// The main process was killed by a signal nobody in stockade sent.
    Signaled {
        /// The signal number.
        signal: i32,
        /// Whether the kernel wrote a core dump.
        core_dumped: bool,
    },
    /// The kernel's OOM killer ended the run inside its box.
    OomKilled,
    /// The run failed after its box hit `pids.max` (fork or thread creation refused).
    PidsLimit,
    /// stockade stopped the run because it ran past its `timeout`.
    TimedOut,
    /// stockade stopped the run because it was asked to.
    Stopped,
    /// stockade stopped the run because its liveness probe kept failing.
    LivenessFailed,
    /// The program never started.
    SpawnFailed {
        /// What went wrong, in a word.
        error: SpawnErrorKind,
        /// The OS error number, when there was one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errno: Option<i32>,
        /// The full error text.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// The daemon restarted and the run's processes were gone.
    Lost,
    /// What became of the run cannot be known: the host rebooted (boot id
    /// changed), the box vanished (no cgroup, no exit record), or its init
    /// was killed from outside before the agent ended.
    Interrupted,
}

impl ExitCause {
    /// The `kind` string of this cause, as on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            ExitCause::Exited { .. } => "exited",
            ExitCause::Signaled { .. } => "signaled",
            ExitCause::OomKilled => "oom_killed",
            ExitCause::PidsLimit => "pids_limit",
            ExitCause::TimedOut => "timed_out",
            ExitCause::Stopped => "stopped",
            ExitCause::LivenessFailed => "liveness_failed",
            ExitCause::SpawnFailed { .. } => "spawn_failed",
            ExitCause::Lost => "lost",
            ExitCause::Interrupted => "interrupted",
        }
    }

    /// True only for `exited` with a code in `success_codes`.
    pub fn is_success(&self, success_codes: &[i32]) -> bool {
        matches!(self, ExitCause::Exited { code } if success_codes.contains(code))
    }
}

impl fmt::Display for ExitCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitCause::Exited { code } => write!(f, "exited {code}"),
            ExitCause::Signaled { signal, core_dumped } => {
                write!(f, "signaled {signal}")?;
                if *core_dumped {
                    write!(f, " (core dumped)")?;
                }
                Ok(())
            }
            ExitCause::SpawnFailed { message, .. } => write!(f, "spawn_failed: {message}"),
            other => f.write_str(other.kind()),
        }
    }
}

/// The class of a spawn failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpawnErrorKind {
    /// The program does not exist (ENOENT).
    NotFound,
    /// The program exists but cannot be executed (EACCES, ENOEXEC).
    NotExecutable,
    /// The kernel refused a new task (EAGAIN): a pids, nproc, threads or pid limit.
    ResourceLimit,
    /// The box could not be set up (cgroup creation, limits, join).
    BoxSetup,
    /// Anything else the OS said.
    Os,
}

/// The facts read at death that decided the [`ExitCause`]. Every field is
/// optional: a backend that cannot read a counter says so in `notes`, and the
/// classification falls back to what it has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evidence {
    /// The main process's exit code, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed the main process, if any.
    pub signal: Option<i32>,
    /// Whether a core dump was written.
    pub core_dumped: bool,
    /// OOM kills inside the box during this run (the rise of `oom_kill`).
    pub oom_kills: Option<u64>,
    /// Times the box hit its memory limit (v1 `memory.failcnt`, v2 `memory.events` `max`).
    pub memory_max_hits: Option<u64>,
    /// Forks refused by `pids.max` during this run (the rise of `pids.events` `max`).
    pub pids_max_hits: Option<u64>,
    /// The highest memory charge, in bytes.
    pub memory_peak: Option<u64>,
    /// The memory limit in force, in bytes.
    pub memory_limit: Option<u64>,
    /// The highest task count seen.
    pub pids_peak: Option<u64>,
    /// The pids limit in force.
    pub pids_limit: Option<u64>,
    /// CPU time used, in microseconds.
    pub cpu_usec: Option<u64>,
    /// How long the run lasted, in milliseconds.
    pub runtime_ms: Option<u64>,
    /// One sentence on how the cause was decided, e.g.
    /// "main process killed by SIGKILL and oom_kill rose 0→1".
    pub decided_by: String,
    /// What could not be read, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_serialize_with_a_snake_case_kind_tag() {
        let json = serde_json::to_value(ExitCause::OomKilled).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "oom_killed"}));
        let json =
            serde_json::to_value(ExitCause::Signaled { signal: 11, core_dumped: true }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "signaled", "signal": 11, "core_dumped": true})
        );
        for cause in [
            ExitCause::Exited { code: 3 },
            ExitCause::PidsLimit,
            ExitCause::TimedOut,
            ExitCause::Stopped,
            ExitCause::LivenessFailed,
            ExitCause::Lost,
            ExitCause::Interrupted,
        ] {
            let json = serde_json::to_value(&cause).unwrap();
            assert_eq!(json["kind"], cause.kind());
            let back: ExitCause = serde_json::from_value(json).unwrap();
            assert_eq!(back, cause);
        }
    }

    #[test]
    fn only_listed_exit_codes_are_success() {
        assert!(ExitCause::Exited { code: 0 }.is_success(&[0]));
        assert!(!ExitCause::Exited { code: 3 }.is_success(&[0]));
        assert!(ExitCause::Exited { code: 3 }.is_success(&[0, 3]));
        assert!(!ExitCause::Stopped.is_success(&[0]));
    }
}
