//! Deciding why a run ended (DESIGN.md §4): a pure function over what is
//! known, so the rules are tested against a table, not against the kernel.
//!
//! Order of the rules: a stop stockade asked for wins; then OOM, but only
//! when the main process died by SIGKILL *and* the box's `oom_kill` counter
//! rose during the run (an OOM-killed helper is otherwise a side fact); then
//! the pids limit, when forks were refused and the main process did not exit
//! 0; else the plain exit code or signal.

use stockade_proto::ExitCause;

/// What stockade knows about how a run ended, from its own side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The main process ended on its own.
    Exited,
    /// stockade stopped it because it was asked to.
    Stopped,
    /// stockade stopped it because it ran past its timeout.
    TimedOut,
    /// stockade stopped it because its liveness probe kept failing.
    LivenessFailed,
}

/// The facts [`classify`] decides from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassifyInput {
    /// What stockade did.
    pub reason: EndReason,
    /// The main process's exit code, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed the main process, if any.
    pub signal: Option<i32>,
    /// Whether the kernel wrote a core dump.
    pub core_dumped: bool,
    /// The rise of the box's `oom_kill` counter during the run (`None`: unreadable).
    pub oom_kills: Option<u64>,
    /// The rise of the box's `pids.events` `max` counter during the run.
    pub pids_max_hits: Option<u64>,
}

/// The cause, and one sentence on what decided it.
pub fn classify(input: &ClassifyInput) -> (ExitCause, String) {
    let status = match (input.exit_code, input.signal) {
        (Some(code), _) => format!("main process exited {code}"),
        (None, Some(signal)) => format!("main process killed by signal {signal}"),
        (None, None) => "main process status unknown".to_string(),
    };
    match input.reason {
        EndReason::Stopped => {
            return (ExitCause::Stopped, format!("stockade stopped the run on request; {status}"));
        }
        EndReason::TimedOut => {
            return (
                ExitCause::TimedOut,
                format!("stockade stopped the run at its timeout; {status}"),
            );
        }
        EndReason::LivenessFailed => {
            return (
                ExitCause::LivenessFailed,
                format!("stockade stopped the run after failed liveness probes; {status}"),
            );
        }
        EndReason::Exited => {}
    }
    let oom = input.oom_kills.unwrap_or(0);
    let pids = input.pids_max_hits.unwrap_or(0);
    if input.signal == Some(libc::SIGKILL) && oom > 0 {
        return (
            ExitCause::OomKilled,
            format!("main process killed by SIGKILL and oom_kill rose by {oom} during the run"),
        );
    }
    if pids > 0 && input.exit_code != Some(0) {
        return (
            ExitCause::PidsLimit,
            format!("{status} after the box refused {pids} fork(s) at pids.max"),
        );
    }
    let mut side = Vec::new();
    if oom > 0 {
        side.push(format!("oom_kill rose by {oom} inside the box"));
    }
    if pids > 0 {
        side.push(format!("{pids} fork(s) refused at pids.max"));
    }
    let decided_by =
        if side.is_empty() { status } else { format!("{status}; side facts: {}", side.join(", ")) };
    let cause = match (input.exit_code, input.signal) {
        (Some(code), _) => ExitCause::Exited { code },
        (None, Some(signal)) => ExitCause::Signaled { signal, core_dumped: input.core_dumped },
        (None, None) => ExitCause::Lost,
    };
    (cause, decided_by)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(
        reason: EndReason,
        code: Option<i32>,
        signal: Option<i32>,
        oom: u64,
        pids: u64,
    ) -> ClassifyInput {
        ClassifyInput {
            reason,
            exit_code: code,
            signal,
            core_dumped: false,
            oom_kills: Some(oom),
            pids_max_hits: Some(pids),
        }
    }

    #[test]
    fn the_rules_in_order() {
        use EndReason::*;
        let table = [
            // (input, expected cause, words in decided_by)
            (input(Exited, Some(0), None, 0, 0), ExitCause::Exited { code: 0 }, "exited 0"),
            (input(Exited, Some(3), None, 0, 0), ExitCause::Exited { code: 3 }, "exited 3"),
            (input(Exited, None, Some(9), 1, 0), ExitCause::OomKilled, "oom_kill rose by 1"),
            (
                input(Exited, None, Some(9), 0, 0),
                ExitCause::Signaled { signal: 9, core_dumped: false },
                "signal 9",
            ),
            // A helper was OOM-killed but the agent exited 0: a side fact.
            (
                input(Exited, Some(0), None, 1, 0),
                ExitCause::Exited { code: 0 },
                "side facts: oom_kill rose by 1",
            ),
            // OOM kill of a helper, agent then failed with a code: not OOM.
            (
                input(Exited, Some(1), None, 2, 0),
                ExitCause::Exited { code: 1 },
                "oom_kill rose by 2",
            ),
            // SIGTERM from elsewhere while an OOM happened: not OOM.
            (
                input(Exited, None, Some(15), 1, 0),
                ExitCause::Signaled { signal: 15, core_dumped: false },
                "side facts",
            ),
            (input(Exited, Some(2), None, 0, 5), ExitCause::PidsLimit, "refused 5 fork(s)"),
            (input(Exited, None, Some(11), 0, 1), ExitCause::PidsLimit, "signal 11"),
            (
                input(Exited, Some(0), None, 0, 5),
                ExitCause::Exited { code: 0 },
                "5 fork(s) refused",
            ),
            // OOM beats pids when both rose and the main process got SIGKILL.
            (input(Exited, None, Some(9), 1, 3), ExitCause::OomKilled, "SIGKILL"),
            (input(Stopped, None, Some(9), 1, 3), ExitCause::Stopped, "on request"),
            (input(TimedOut, Some(0), None, 0, 0), ExitCause::TimedOut, "timeout"),
            (input(LivenessFailed, None, Some(15), 0, 0), ExitCause::LivenessFailed, "liveness"),
            (input(Exited, None, None, 0, 0), ExitCause::Lost, "unknown"),
        ];
        for (input, cause, words) in table {
            let (got, decided_by) = classify(&input);
            assert_eq!(got, cause, "{input:?}");
            assert!(decided_by.contains(words), "{input:?}: {decided_by}");
        }
    }

    #[test]
    fn core_flag_and_unreadable_counters() {
        let input = ClassifyInput {
            reason: EndReason::Exited,
            exit_code: None,
            signal: Some(11),
            core_dumped: true,
            oom_kills: None,
            pids_max_hits: None,
        };
        assert_eq!(classify(&input).0, ExitCause::Signaled { signal: 11, core_dumped: true });
    }
}
