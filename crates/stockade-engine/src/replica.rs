//! The life of one service replica: [`ReplicaState`], changed only by
//! [`ReplicaState::transition`].
//!
//! The engine decides *what* should happen (restart after a backoff, give up,
//! stay stopped) and says so in the event; this module decides only whether
//! that move is legal from where the replica is, and carries the per-state
//! data (a `Running` replica always has a run and a pid).

use crate::launcher::StopReason;
use stockade_proto::{ExitCause, RunId, ServiceState};
use tokio::time::Instant;

/// Where a replica is, with the data that state needs.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaState {
    /// Not started yet: waiting for the start order or its dependencies.
    Pending,
    /// A dependency cannot be met.
    Blocked {
        /// Which dependency, and why.
        reason: String,
    },
    /// A run was launched; it is not confirmed running, or not yet ready.
    Starting {
        /// The run.
        run: RunId,
        /// Its pid once the launcher confirmed the spawn.
        pid: Option<u32>,
    },
    /// Running (no readiness probe, or readiness not passing right now).
    Running {
        /// The run.
        run: RunId,
        /// Its pid.
        pid: u32,
    },
    /// Running, and the readiness probe passes.
    Ready {
        /// The run.
        run: RunId,
        /// Its pid.
        pid: u32,
    },
    /// Died; restarts at `until`.
    Backoff {
        /// When the next start is due.
        until: Instant,
        /// Why the last run ended.
        last: ExitCause,
    },
    /// A stop was sent; waiting for the box to empty.
    Stopping {
        /// The run being stopped.
        run: RunId,
        /// Why it is being stopped.
        reason: StopReason,
    },
    /// Down, and will not start on its own.
    Stopped {
        /// Why the last run ended, if there was one.
        last: Option<ExitCause>,
    },
    /// Hit its start limit; down until `stockade restart`.
    GaveUp {
        /// Why the last run ended.
        last: ExitCause,
    },
}

/// What can happen to a replica.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaEvent {
    /// The engine launched a run.
    Launch {
        /// The new run.
        run: RunId,
    },
    /// The launcher confirmed the spawn.
    Started {
        /// The main pid.
        pid: u32,
        /// Whether a readiness probe must pass before `Ready`.
        readiness: Readiness,
    },
    /// The readiness probe reached its success threshold.
    ReadyPassed,
    /// The readiness probe reached its failure threshold after having passed.
    ReadyLost,
    /// Someone asked for the replica to stop (or the liveness probe / a
    /// timeout did).
    Stop {
        /// Why.
        reason: StopReason,
    },
    /// The run ended; the engine has decided what comes next.
    Exited {
        /// The engine's decision.
        next: AfterExit,
    },
    /// A dependency can no longer be met.
    Block {
        /// Which, and why.
        reason: String,
    },
    /// The blocking dependency recovered.
    Unblock,
    /// `stockade start` / `restart`: back to `Pending`, start limit cleared.
    Reset,
}

/// Whether a started replica waits for a readiness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// It has a readiness probe: stay `Starting` until it passes.
    Probed,
    /// No readiness probe: `Running` at once.
    None,
}

/// The engine's decision after a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterExit {
    /// Restart once the backoff runs out.
    Restart {
        /// When.
        until: Instant,
        /// Why the run ended.
        cause: ExitCause,
    },
    /// Stay down.
    Stop {
        /// Why the run ended (`None` if it never started).
        cause: Option<ExitCause>,
    },
    /// The start limit is exhausted.
    GiveUp {
        /// Why the last run ended.
        cause: ExitCause,
    },
}

/// A move the table does not allow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("illegal replica transition: {event} while {state}")]
pub struct IllegalTransition {
    /// The state name.
    pub state: &'static str,
    /// The event name.
    pub event: &'static str,
}

impl ReplicaState {
    /// The wire name of this state.
    pub fn public(&self) -> ServiceState {
        match self {
            ReplicaState::Pending => ServiceState::Pending,
            ReplicaState::Blocked { .. } => ServiceState::Blocked,
            ReplicaState::Starting { .. } => ServiceState::Starting,
            ReplicaState::Running { .. } => ServiceState::Running,
            ReplicaState::Ready { .. } => ServiceState::Ready,
            ReplicaState::Backoff { .. } => ServiceState::Backoff,
            ReplicaState::Stopping { .. } => ServiceState::Stopping,
            ReplicaState::Stopped { .. } => ServiceState::Stopped,
            ReplicaState::GaveUp { .. } => ServiceState::GaveUp,
        }
    }

    /// The live run, if any.
    pub fn run(&self) -> Option<RunId> {
        match self {
            ReplicaState::Starting { run, .. }
            | ReplicaState::Running { run, .. }
            | ReplicaState::Ready { run, .. }
            | ReplicaState::Stopping { run, .. } => Some(*run),
            _ => None,
        }
    }

    /// The main pid, if running.
    pub fn pid(&self) -> Option<u32> {
        match self {
            ReplicaState::Starting { pid, .. } => *pid,
            ReplicaState::Running { pid, .. } | ReplicaState::Ready { pid, .. } => Some(*pid),
            _ => None,
        }
    }

    /// The one place a replica changes state.
    pub fn transition(&self, event: ReplicaEvent) -> Result<ReplicaState, IllegalTransition> {
        use ReplicaEvent as E;
        use ReplicaState as S;
        let next = match (self, event) {
            (S::Pending | S::Backoff { .. } | S::Stopped { .. }, E::Launch { run }) => {
                S::Starting { run, pid: None }
            }
            (S::Starting { run, pid: None }, E::Started { pid, readiness }) => match readiness {
                Readiness::Probed => S::Starting { run: *run, pid: Some(pid) },
                Readiness::None => S::Running { run: *run, pid },
            },
            (S::Starting { run, pid: Some(pid) } | S::Running { run, pid }, E::ReadyPassed) => {
                S::Ready { run: *run, pid: *pid }
            }
            (S::Ready { run, pid }, E::ReadyLost) => S::Running { run: *run, pid: *pid },
            (
                S::Starting { run, .. } | S::Running { run, .. } | S::Ready { run, .. },
                E::Stop { reason },
            ) => S::Stopping { run: *run, reason },
            (
                S::Pending | S::Blocked { .. } | S::Backoff { .. } | S::Stopped { .. },
                E::Stop { .. },
            ) => S::Stopped { last: self.last_cause() },
            (S::GaveUp { last }, E::Stop { .. }) => S::GaveUp { last: last.clone() },
            (
                S::Starting { .. } | S::Running { .. } | S::Ready { .. } | S::Stopping { .. },
                E::Exited { next },
            ) => match next {
                AfterExit::Restart { until, cause } => S::Backoff { until, last: cause },
                AfterExit::Stop { cause } => S::Stopped { last: cause },
                AfterExit::GiveUp { cause } => S::GaveUp { last: cause },
            },
            (S::Pending | S::Blocked { .. }, E::Block { reason }) => S::Blocked { reason },
            (S::Blocked { .. }, E::Unblock) => S::Pending,
            (S::GaveUp { .. } | S::Stopped { .. } | S::Blocked { .. } | S::Pending, E::Reset) => {
                S::Pending
            }
            (state, event) => {
                return Err(IllegalTransition { state: state.name(), event: event.name() });
            }
        };
        Ok(next)
    }

    fn last_cause(&self) -> Option<ExitCause> {
        match self {
            ReplicaState::Backoff { last, .. } | ReplicaState::GaveUp { last } => {
                Some(last.clone())
            }
            ReplicaState::Stopped { last } => last.clone(),
            _ => None,
        }
    }

    fn name(&self) -> &'static str {
        self.public().as_str()
    }
}

impl ReplicaEvent {
    fn name(&self) -> &'static str {
        match self {
            ReplicaEvent::Launch { .. } => "launch",
            ReplicaEvent::Started { .. } => "started",
            ReplicaEvent::ReadyPassed => "ready_passed",
            ReplicaEvent::ReadyLost => "ready_lost",
            ReplicaEvent::Stop { .. } => "stop",
            ReplicaEvent::Exited { .. } => "exited",
            ReplicaEvent::Block { .. } => "block",
            ReplicaEvent::Unblock => "unblock",
            ReplicaEvent::Reset => "reset",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states() -> Vec<ReplicaState> {
        let run = RunId(1);
        vec![
            ReplicaState::Pending,
            ReplicaState::Blocked { reason: "x".into() },
            ReplicaState::Starting { run, pid: None },
            ReplicaState::Starting { run, pid: Some(7) },
            ReplicaState::Running { run, pid: 7 },
            ReplicaState::Ready { run, pid: 7 },
            ReplicaState::Backoff { until: Instant::now(), last: ExitCause::Exited { code: 1 } },
            ReplicaState::Stopping { run, reason: StopReason::Asked },
            ReplicaState::Stopped { last: None },
            ReplicaState::GaveUp { last: ExitCause::Exited { code: 1 } },
        ]
    }

    fn events() -> Vec<ReplicaEvent> {
        vec![
            ReplicaEvent::Launch { run: RunId(2) },
            ReplicaEvent::Started { pid: 9, readiness: Readiness::None },
            ReplicaEvent::ReadyPassed,
            ReplicaEvent::ReadyLost,
            ReplicaEvent::Stop { reason: StopReason::Asked },
            ReplicaEvent::Exited { next: AfterExit::Stop { cause: None } },
            ReplicaEvent::Block { reason: "dep".into() },
            ReplicaEvent::Unblock,
            ReplicaEvent::Reset,
        ]
    }

    /// The full table: (state, event) → the resulting state name, or `-` for illegal.
    #[test]
    fn transition_table_is_exactly_this() {
        let expected: [[&str; 9]; 10] = [
            // launch    started    ready_p   ready_l    stop        exited     block      unblock    reset
            ["starting", "-", "-", "-", "stopped", "-", "blocked", "-", "pending"], // pending
            ["-", "-", "-", "-", "stopped", "-", "blocked", "pending", "pending"],  // blocked
            ["-", "running", "-", "-", "stopping", "stopped", "-", "-", "-"], // starting (no pid)
            ["-", "-", "ready", "-", "stopping", "stopped", "-", "-", "-"],   // starting (pid)
            ["-", "-", "ready", "-", "stopping", "stopped", "-", "-", "-"],   // running
            ["-", "-", "-", "running", "stopping", "stopped", "-", "-", "-"], // ready
            ["starting", "-", "-", "-", "stopped", "-", "-", "-", "-"],       // backoff
            ["-", "-", "-", "-", "-", "stopped", "-", "-", "-"],              // stopping
            ["starting", "-", "-", "-", "stopped", "-", "-", "-", "pending"], // stopped
            ["-", "-", "-", "-", "gave_up", "-", "-", "-", "pending"],        // gave_up
        ];
        for (si, state) in states().iter().enumerate() {
            for (ei, event) in events().into_iter().enumerate() {
                let got = match state.transition(event.clone()) {
                    Ok(next) => next.public().as_str(),
                    Err(_) => "-",
                };
                assert_eq!(got, expected[si][ei], "state {state:?} event {event:?}");
            }
        }
    }

    #[test]
    fn readiness_keeps_a_started_replica_starting_until_it_passes() {
        let s = ReplicaState::Starting { run: RunId(1), pid: None };
        let s =
            s.transition(ReplicaEvent::Started { pid: 5, readiness: Readiness::Probed }).unwrap();
        assert_eq!(s, ReplicaState::Starting { run: RunId(1), pid: Some(5) });
        let s = s.transition(ReplicaEvent::ReadyPassed).unwrap();
        assert_eq!(s, ReplicaState::Ready { run: RunId(1), pid: 5 });
    }

    #[test]
    fn exit_decisions_map_to_backoff_stopped_and_gave_up() {
        let running = ReplicaState::Running { run: RunId(1), pid: 5 };
        let cause = ExitCause::Exited { code: 1 };
        let until = Instant::now();
        let next = AfterExit::Restart { until, cause: cause.clone() };
        assert_eq!(
            running.transition(ReplicaEvent::Exited { next }).unwrap(),
            ReplicaState::Backoff { until, last: cause.clone() }
        );
        let next = AfterExit::GiveUp { cause: cause.clone() };
        assert_eq!(
            running.transition(ReplicaEvent::Exited { next }).unwrap(),
            ReplicaState::GaveUp { last: cause }
        );
    }

    #[test]
    fn illegal_moves_are_errors_that_name_both_sides() {
        let err = ReplicaState::Pending.transition(ReplicaEvent::ReadyPassed).unwrap_err();
        assert_eq!(err.to_string(), "illegal replica transition: ready_passed while pending");
    }
}
