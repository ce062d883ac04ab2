//! [`decide`]: how a job's ended run leaves the job — succeeded, cancelled,
//! queued again (a retry by cause with exponential backoff, or a shutdown),
//! or failed with the reason. Pure: the engine hands it the facts.

use super::job_life::{End, StopWhy};
use std::time::Duration;
use stockade_proto::{ExitCause, JobState, Outcome};
use stockade_spec::{OnInterrupt, Retries};
use tokio::time::Instant;

/// The longest retry backoff.
pub const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(600);

/// The facts of one ended run.
pub(super) struct Ended<'a> {
    /// How the run ended.
    pub cause: &'a ExitCause,
    /// The attempt that ended (1-based) and how many are allowed.
    pub attempt: u32,
    /// How many attempts are allowed in all.
    pub max_attempts: u32,
    /// The template's retry policy (`None`: the template left the spec).
    pub retries: Option<&'a Retries>,
    /// Why the run was being stopped, if it was.
    pub stopping: Option<StopWhy>,
    /// What an `interrupted` end does.
    pub on_interrupt: OnInterrupt,
    /// Now.
    pub now: Instant,
}

/// The decision: how the job moves, and the reason it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decision {
    pub end: End,
    pub reason: Option<String>,
    /// The run does not count against the job's attempts: it was stopped by
    /// the daemon's own shutdown or interrupted, not failed by the job.
    pub refund: bool,
}

/// Decide. Jobs succeed by exit code 0 only.
pub(super) fn decide(e: &Ended<'_>) -> Decision {
    let outcome = Outcome::of(e.cause, &[0]);
    let finish = |to, reason: Option<String>| Decision {
        end: End::Finish { to, outcome },
        reason,
        refund: false,
    };
    if outcome == Outcome::Success {
        return finish(JobState::Succeeded, None);
    }
    match e.stopping {
        Some(StopWhy::Cancel) => {
            return finish(JobState::Cancelled, Some("cancelled on request".into()));
        }
        Some(StopWhy::Shutdown) if outcome == Outcome::AskedStop => {
            return Decision {
                end: End::Requeue { now: e.now, retry_at: e.now },
                reason: Some("daemon shut down; runs again at next start".into()),
                refund: true,
            };
        }
        _ => {}
    }
    if *e.cause == ExitCause::Interrupted && e.stopping.is_none() {
        let attempt = e.attempt;
        return match e.on_interrupt {
            OnInterrupt::Requeue => Decision {
                end: End::Requeue { now: e.now, retry_at: e.now },
                reason: Some(format!(
                    "interrupted at attempt {attempt}; queued again (on_interrupt = \"requeue\")"
                )),
                refund: true,
            },
            OnInterrupt::Fail => finish(
                JobState::Failed,
                Some(format!(
                    "interrupted at attempt {attempt}; not run again (on_interrupt = \"fail\")"
                )),
            ),
        };
    }
    let retried_for = e.retries.is_some_and(|r| r.on.iter().any(|k| k == e.cause.kind()));
    let cause = e.cause;
    if retried_for && e.attempt < e.max_attempts {
        let base = e.retries.map_or(Duration::from_secs(10), |r| r.backoff);
        let exp = 2u32.saturating_pow(e.attempt.saturating_sub(1).min(16));
        let wait = base.saturating_mul(exp).min(MAX_RETRY_BACKOFF);
        let reason = format!(
            "attempt {}/{} ended: {cause}; retrying in {}s",
            e.attempt,
            e.max_attempts,
            wait.as_secs()
        );
        return Decision {
            end: End::Requeue { now: e.now, retry_at: e.now + wait },
            reason: Some(reason),
            refund: false,
        };
    }
    let reason = if retried_for {
        format!("{cause}; no attempts left ({}/{})", e.attempt, e.max_attempts)
    } else {
        format!("{cause}; not retried for `{}`", cause.kind())
    };
    finish(JobState::Failed, Some(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retries() -> Retries {
        Retries {
            max: 2,
            backoff: Duration::from_secs(2),
            on: vec!["exited".into(), "lost".into()],
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_decision_table() {
        let now = Instant::now();
        let s = |secs| now + Duration::from_secs(secs);
        let policy = retries();
        let exited = |code| ExitCause::Exited { code };
        type Row = (ExitCause, u32, Option<StopWhy>, End, Option<&'static str>);
        let fin = |to, outcome| End::Finish { to, outcome };
        let table: Vec<Row> = vec![
            (exited(0), 1, None, fin(JobState::Succeeded, Outcome::Success), None),
            // A run that succeeded while being cancelled still succeeded.
            (exited(0), 1, Some(StopWhy::Cancel), fin(JobState::Succeeded, Outcome::Success), None),
            (
                ExitCause::Stopped,
                1,
                Some(StopWhy::Cancel),
                fin(JobState::Cancelled, Outcome::AskedStop),
                Some("cancelled on request"),
            ),
            (
                exited(1),
                1,
                Some(StopWhy::Cancel),
                fin(JobState::Cancelled, Outcome::Failure),
                Some("cancelled on request"),
            ),
            (
                ExitCause::Stopped,
                2,
                Some(StopWhy::Shutdown),
                End::Requeue { now, retry_at: now },
                Some("daemon shut down; runs again at next start"),
            ),
            (
                exited(1),
                1,
                None,
                End::Requeue { now, retry_at: s(2) },
                Some("attempt 1/3 ended: exited 1; retrying in 2s"),
            ),
            (
                exited(1),
                2,
                None,
                End::Requeue { now, retry_at: s(4) },
                Some("attempt 2/3 ended: exited 1; retrying in 4s"),
            ),
            (
                exited(1),
                3,
                None,
                fin(JobState::Failed, Outcome::Failure),
                Some("exited 1; no attempts left (3/3)"),
            ),
            (
                ExitCause::OomKilled,
                1,
                None,
                fin(JobState::Failed, Outcome::Failure),
                Some("oom_killed; not retried for `oom_killed`"),
            ),
            (
                ExitCause::TimedOut,
                1,
                Some(StopWhy::Timeout),
                fin(JobState::Failed, Outcome::Failure),
                Some("timed_out; not retried for `timed_out`"),
            ),
            // A shutdown that found the run dying of something else: the policy decides.
            (
                exited(1),
                1,
                Some(StopWhy::Shutdown),
                End::Requeue { now, retry_at: s(2) },
                Some("attempt 1/3 ended: exited 1; retrying in 2s"),
            ),
            // Interrupted: queued again at once by the default `on_interrupt`,
            // even on the last attempt and though `interrupted` is not in `on`.
            (
                ExitCause::Interrupted,
                3,
                None,
                End::Requeue { now, retry_at: now },
                Some("interrupted at attempt 3; queued again (on_interrupt = \"requeue\")"),
            ),
        ];
        for (cause, attempt, stopping, end, reason) in table {
            let got = decide(&Ended {
                cause: &cause,
                attempt,
                max_attempts: 3,
                retries: Some(&policy),
                stopping,
                on_interrupt: OnInterrupt::Requeue,
                now,
            });
            assert_eq!(got.end, end, "{cause} attempt {attempt} {stopping:?}");
            assert_eq!(got.reason.as_deref(), reason, "{cause} attempt {attempt} {stopping:?}");
            // Only the daemon's own stops give the attempt back.
            let refund = matches!(
                (&cause, stopping),
                (ExitCause::Stopped, Some(StopWhy::Shutdown)) | (ExitCause::Interrupted, None)
            );
            assert_eq!(got.refund, refund, "{cause} attempt {attempt} {stopping:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_up_to_its_ceiling() {
        let now = Instant::now();
        let policy = Retries { max: 40, ..retries() };
        let cause = ExitCause::Exited { code: 1 };
        let e = Ended {
            cause: &cause,
            attempt: 20,
            max_attempts: 41,
            retries: Some(&policy),
            stopping: None,
            on_interrupt: OnInterrupt::Requeue,
            now,
        };
        assert_eq!(decide(&e).end, End::Requeue { now, retry_at: now + MAX_RETRY_BACKOFF });
        let interrupted = ExitCause::Interrupted;
        let fail = Ended { cause: &interrupted, on_interrupt: OnInterrupt::Fail, ..e };
        assert!(matches!(decide(&fail).end, End::Finish { to: JobState::Failed, .. }));
        let e = Ended { cause: &cause, ..fail };
        assert_eq!(decide(&e).end, End::Requeue { now, retry_at: now + MAX_RETRY_BACKOFF });
    }
}
