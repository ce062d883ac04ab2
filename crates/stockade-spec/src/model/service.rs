//! `[service.NAME]`: a long-running agent kept alive by a restart policy.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use stockade_proto::Limits;

use super::environment::{EnvFile, EnvPattern};
use super::probe::ProbeSpec;
use super::walls::Isolation;
use crate::replica::expand_replica;

/// A validated service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// The service's name (unique across services and jobs).
    pub name: String,
    /// argv; never empty. May hold `{replica}` placeholders.
    pub command: Vec<String>,
    /// Extra environment (values may hold `{replica}` placeholders).
    pub env: BTreeMap<String, String>,
    /// Working directory, absolute (relative paths are resolved against the
    /// spec's directory); for a walled unit a path inside its box (the host
    /// root is visible read-only, `mounts` targets where they are mounted).
    /// `None`: a walled agent runs in its workspace
    /// (`/workspace` inside the box); an unwalled one (`isolation = "none"`)
    /// in the spec's directory, so `command = ["python3", "agent.py"]` finds
    /// a script beside the spec.
    pub cwd: Option<PathBuf>,
    /// When to restart after the process ends (default `on-failure`).
    pub restart: RestartPolicy,
    /// Exit codes that count as success (default `[0]`).
    pub exit_codes: Vec<i32>,
    /// Delay between restarts.
    pub backoff: Backoff,
    /// The circuit breaker: too many starts in a window → `gave_up`.
    pub start_limit: StartLimit,
    /// How to stop it.
    pub stop: StopSpec,
    /// Readiness probe: gates `ready` (and dependents waiting for `ready`).
    pub readiness: Option<ProbeSpec>,
    /// Liveness probe: failures end the run as `liveness_failed`.
    pub liveness: Option<ProbeSpec>,
    /// Limits of each replica's box, already merged over the defaults.
    pub limits: Limits,
    /// Number of copies (at least 1).
    pub replicas: u32,
    /// Services that must reach a condition before this one starts, in file order.
    pub depends_on: Vec<Dependency>,
    /// `isolation` and the walls (default: walled).
    pub isolation: Isolation,
    /// `env_file`, read when the spec was read.
    pub env_file: Option<EnvFile>,
    /// `inherit_env`: daemon variables a walled box may see.
    pub inherit_env: Vec<EnvPattern>,
}

impl ServiceSpec {
    /// This service as replica `index` sees it: `{replica}` placeholders expanded
    /// in `command`, `env` values and probes. (The engine adds
    /// `STOCKADE_SERVICE` and `STOCKADE_REPLICA` to the environment itself.)
    pub fn for_replica(&self, index: u32) -> ServiceSpec {
        let mut copy = self.clone();
        copy.command = self.command.iter().map(|a| expand_replica(a, index)).collect();
        copy.env = self.env.iter().map(|(k, v)| (k.clone(), expand_replica(v, index))).collect();
        for probe in [&mut copy.readiness, &mut copy.liveness].into_iter().flatten() {
            probe.check = probe.check.for_replica(index);
        }
        copy
    }
}

/// `restart`: when a finished run is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// `never`.
    Never,
    /// `on-failure`: when the cause is not a success per `exit_codes`.
    OnFailure,
    /// `always`: after every end except an explicit stop.
    Always,
    /// `unless-stopped`: like `always`, and a service stopped by a user stays
    /// stopped across daemon restarts.
    UnlessStopped,
}

impl RestartPolicy {
    /// The spellings accepted in a spec, in the order of the variants.
    pub const NAMES: [&'static str; 4] = ["never", "on-failure", "always", "unless-stopped"];

    /// The policy spelled `name` in a spec.
    pub fn from_name(name: &str) -> Option<RestartPolicy> {
        match name {
            "never" => Some(RestartPolicy::Never),
            "on-failure" => Some(RestartPolicy::OnFailure),
            "always" => Some(RestartPolicy::Always),
            "unless-stopped" => Some(RestartPolicy::UnlessStopped),
            _ => None,
        }
    }
}

/// `backoff`: the delay before restart n is `initial × factor^(n-1)`, capped at
/// `max`, then spread by ± `jitter` (a fraction).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay (default 100ms).
    pub initial: Duration,
    /// Cap (default 30s).
    pub max: Duration,
    /// Growth per restart, at least 1.0 (default 2.0).
    pub factor: f64,
    /// Random spread, 0.0–1.0 (default 0.2).
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.2,
        }
    }
}

/// `start_limit`: more than `burst` starts within `interval` → `gave_up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartLimit {
    /// Starts allowed per window (default 5).
    pub burst: u32,
    /// The window (default 60s).
    pub interval: Duration,
}

impl Default for StartLimit {
    fn default() -> Self {
        StartLimit { burst: 5, interval: Duration::from_secs(60) }
    }
}

/// `stop`: the signal sent to every process in the box, then the grace period
/// before the box is killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopSpec {
    /// Signal number (Linux).
    pub signal: i32,
    /// Canonical name, e.g. `"SIGTERM"`.
    pub signal_name: String,
    /// Time between the signal and the kill (default 10s).
    pub grace: Duration,
}

impl Default for StopSpec {
    fn default() -> Self {
        StopSpec { signal: 15, signal_name: "SIGTERM".to_owned(), grace: Duration::from_secs(10) }
    }
}

/// One entry of `depends_on`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The service depended on.
    pub service: String,
    /// What it must reach first.
    pub condition: DependsOn,
}

/// A `depends_on` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependsOn {
    /// `started`: its process has been spawned.
    Started,
    /// `ready`: its readiness probe passed (or it started, if it has none).
    Ready,
    /// `completed`: it ran and ended, however.
    Completed,
    /// `completed_successfully`: it ran and ended with a success exit code.
    CompletedSuccessfully,
}

impl DependsOn {
    /// The spellings accepted in a spec, in the order of the variants.
    pub const NAMES: [&'static str; 4] =
        ["started", "ready", "completed", "completed_successfully"];

    /// The condition spelled `name` in a spec.
    pub fn from_name(name: &str) -> Option<DependsOn> {
        match name {
            "started" => Some(DependsOn::Started),
            "ready" => Some(DependsOn::Ready),
            "completed" => Some(DependsOn::Completed),
            "completed_successfully" => Some(DependsOn::CompletedSuccessfully),
            _ => None,
        }
    }
}
