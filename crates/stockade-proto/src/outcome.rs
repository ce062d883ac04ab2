//! [`Outcome`]: what the end of a run means — the one answer to "was this end
//! abnormal?", for the engine (post-mortems, retries, restarts, the failure
//! rate of `auto` pools), the webhook and metrics alike.

use crate::ExitCause;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a run's end means, decided by [`Outcome::of`] from its [`ExitCause`]
/// and the unit's success codes (a service's `exit_codes`, `[0]` for jobs).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The main process exited with one of the unit's success codes.
    Success,
    /// Anything nobody asked for: another exit code, a signal, an OOM kill,
    /// the pids limit, a timeout, a failed liveness probe, a spawn failure,
    /// a run lost to a daemon restart. Gets a post-mortem, counts against
    /// an `auto` pool, goes to the webhook.
    Failure,
    /// stockade stopped the run because it was asked to (API, CLI, cancel,
    /// shutdown): neither a success nor a failure.
    AskedStop,
}

impl Outcome {
    /// The meaning of `cause` for a unit whose success codes are `success_codes`.
    pub fn of(cause: &ExitCause, success_codes: &[i32]) -> Outcome {
        match cause {
            ExitCause::Exited { code } if success_codes.contains(code) => Outcome::Success,
            ExitCause::Stopped => Outcome::AskedStop,
            _ => Outcome::Failure,
        }
    }

    /// True for [`Outcome::Failure`]: an end that wants a post-mortem.
    pub fn is_abnormal(self) -> bool {
        self == Outcome::Failure
    }

    /// The wire name (`success`, `failure`, `asked_stop`), also a metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::AskedStop => "asked_stop",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpawnErrorKind;

    #[test]
    fn every_cause_has_one_outcome_and_success_follows_the_units_codes() {
        let spawn = ExitCause::SpawnFailed {
            error: SpawnErrorKind::NotFound,
            errno: Some(2),
            message: "no such file".into(),
            hint: "check `command`".into(),
        };
        let table = [
            (ExitCause::Exited { code: 0 }, &[0][..], Outcome::Success),
            (ExitCause::Exited { code: 3 }, &[0][..], Outcome::Failure),
            (ExitCause::Exited { code: 3 }, &[0, 3][..], Outcome::Success),
            (ExitCause::Exited { code: 0 }, &[3][..], Outcome::Failure),
            (ExitCause::Signaled { signal: 11, core_dumped: true }, &[0][..], Outcome::Failure),
            (ExitCause::OomKilled, &[0][..], Outcome::Failure),
            (ExitCause::PidsLimit, &[0][..], Outcome::Failure),
            (ExitCause::TimedOut, &[0][..], Outcome::Failure),
            (ExitCause::Stopped, &[0][..], Outcome::AskedStop),
            (ExitCause::LivenessFailed, &[0][..], Outcome::Failure),
            (spawn, &[0][..], Outcome::Failure),
            (ExitCause::Lost, &[0][..], Outcome::Failure),
            (ExitCause::Interrupted, &[0][..], Outcome::Failure),
        ];
        for (cause, codes, want) in table {
            let got = Outcome::of(&cause, codes);
            assert_eq!(got, want, "{cause} with success codes {codes:?}");
            assert_eq!(got.is_abnormal(), want == Outcome::Failure);
        }
        assert_eq!(serde_json::to_string(&Outcome::AskedStop).unwrap(), r#""asked_stop""#);
    }
}
