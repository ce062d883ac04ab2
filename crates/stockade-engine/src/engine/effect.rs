//! [`Input`] and [`Effect`]: what [`super::Engine::step`] takes and what it
//! asks for. The engine decides; the shell (`shell.rs`) performs.

use super::admission::HostSample;
use super::commit::{Done, Followup};
use crate::command::Command;
use crate::launcher::{LaunchRequest, RunEvent, StopRequest};
use crate::probe::{ProbeKind, ProbeResult};
use stockade_proto::{Event, Limits, RunId, Usage};
use stockade_spec::ProbeSpec;
use stockade_store::Write;
use tokio::sync::oneshot;

/// One thing that happened.
#[derive(Debug)]
pub enum Input {
    /// A request from an [`crate::EngineHandle`].
    Command(Command),
    /// A launcher's report about a run.
    Run(RunEvent),
    /// A probe's result.
    Probe(ProbeResult),
    /// A reading of the host.
    Host(HostSample),
    /// A batch of writes committed (or failed), in submission order.
    Committed(Done),
    /// Time passed (a deadline came, or the loop starts): only reconcile.
    Tick,
}

/// One thing the engine wants done.
pub enum Effect {
    /// Commit `writes` as one unit, then feed back `Input::Committed` with `then`.
    Persist {
        /// The writes.
        writes: Vec<Write>,
        /// What to do once committed.
        then: Followup,
    },
    /// Start a run in its box.
    Launch(Box<LaunchRequest>),
    /// Stop a run.
    Stop {
        /// The run.
        run: RunId,
        /// Signal, grace and reason.
        request: StopRequest,
    },
    /// Read a live run's usage; the answer goes to `reply`.
    AskUsage {
        /// The run.
        run: RunId,
        /// Where the usage goes.
        reply: oneshot::Sender<Usage>,
    },
    /// Write new cgroup limits to a live run's box; the result goes to `reply`.
    SetLimits {
        /// The run.
        run: RunId,
        /// The new limits (rlimits in it are not applied to a live box).
        limits: Limits,
        /// Whether it took.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The run ended and was handled: the launcher may drop it.
    Forget(RunId),
    /// Publish a committed event to subscribers.
    Publish(Event),
    /// Run these probes against a live run until told to stop; results come
    /// back as `Input::Probe`.
    StartProbes {
        /// The run.
        run: RunId,
        /// Each probe and what it is for.
        probes: Vec<(ProbeKind, ProbeSpec)>,
    },
    /// The run ended: stop its probes.
    StopProbes(RunId),
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Persist { writes, .. } => write!(f, "Persist({} writes)", writes.len()),
            Effect::Launch(r) => write!(f, "Launch({} {})", r.run, r.box_name),
            Effect::Stop { run, request } => write!(f, "Stop({run}, {:?})", request.reason),
            Effect::AskUsage { run, .. } => write!(f, "AskUsage({run})"),
            Effect::SetLimits { run, limits, .. } => {
                write!(f, "SetLimits({run}, memory {:?}, pids {:?})", limits.memory, limits.pids)
            }
            Effect::Forget(run) => write!(f, "Forget({run})"),
            Effect::Publish(e) => write!(f, "Publish({:?})", e.kind),
            Effect::StartProbes { run, probes } => {
                write!(f, "StartProbes({run}, {})", probes.len())
            }
            Effect::StopProbes(run) => write!(f, "StopProbes({run})"),
        }
    }
}
