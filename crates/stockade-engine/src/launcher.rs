//! The seam between the engine and the boxes: [`Launcher`].
//!
//! The engine never touches a cgroup or a process. It asks a launcher to start
//! or stop a run and hears back through [`RunEvent`]s on a channel. The real
//! launcher ([`crate::SandboxLauncher`]) drives `stockade-sandbox`; engine tests
//! use `RecordingLauncher` (the `test-support` feature), which records
//! requests and lets the test decide what each run does.

use std::path::PathBuf;
use std::time::Duration;
use stockade_proto::{Evidence, ExitCause, Limits, LogTail, RunId, Usage};
use tokio::sync::{mpsc, oneshot};

/// Everything needed to start one run in its own box.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    /// The run being started.
    pub run: RunId,
    /// The service or job template name.
    pub unit: String,
    /// The box's path below stockade's cgroup root, e.g. `web/0/17`.
    pub box_name: String,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// The limits of the box.
    pub limits: Limits,
    /// The box's walls (`Isolation::None`: cgroup limits and rlimits only).
    pub isolation: stockade_spec::Isolation,
    /// Where stdout and stderr go.
    pub log: LogTarget,
}

/// A run an earlier daemon left open, to take over ([`Launcher::adopt`]).
#[derive(Debug, Clone)]
pub struct AdoptRequest {
    /// The open run.
    pub run: RunId,
    /// Its box.
    pub box_name: String,
    /// Its main process's pid, as journalled (`None`: never journalled).
    pub pid: Option<u32>,
    /// When it was journalled as started.
    pub started_at: stockade_proto::UnixMillis,
    /// Its box's limits.
    pub limits: Limits,
    /// Whether it was walled (its init wrote an exit record).
    pub isolation: stockade_spec::Isolation,
    /// Its log.
    pub log: LogTarget,
}

/// A size-rotated log file: `path`, then `path.1` .. `path.<keep>`.
#[derive(Debug, Clone)]
pub struct LogTarget {
    /// The live file.
    pub path: PathBuf,
    /// Rotate once the live file reaches this many bytes.
    pub max_size: u64,
    /// How many rotated files to keep.
    pub keep: u32,
}

/// Why stockade is stopping a run; decides the [`ExitCause`] it ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Asked to (API, CLI, shutdown, cancel).
    Asked,
    /// The run passed its timeout.
    Timeout,
    /// The liveness probe failed too often.
    Liveness,
}

/// How to stop a run.
#[derive(Debug, Clone, Copy)]
pub struct StopRequest {
    /// The signal sent first to every process in the box.
    pub signal: i32,
    /// How long to wait before killing the whole box.
    pub grace: Duration,
    /// Why.
    pub reason: StopReason,
}

/// What a launcher reports about a run.
#[derive(Debug)]
pub struct RunEvent {
    /// The run it is about.
    pub run: RunId,
    /// What happened.
    pub kind: RunEventKind,
}

/// The kinds of [`RunEvent`]. Every launched run reports exactly one of
/// `Started` or `SpawnFailed`, and after `Started` exactly one `Exited`.
#[derive(Debug)]
pub enum RunEventKind {
    /// The main process is running inside its box.
    Started {
        /// Its pid.
        pid: u32,
    },
    /// The program never started.
    SpawnFailed {
        /// Always `ExitCause::SpawnFailed`.
        cause: ExitCause,
    },
    /// The OOM killer fired inside the box while the run was alive.
    OomKill {
        /// The box's oom_kill count so far.
        count: u64,
    },
    /// The run ended and its box is gone.
    Exited(Box<Exit>),
}

/// The end of a run, as the launcher saw it.
#[derive(Debug)]
pub struct Exit {
    /// The classified cause.
    pub cause: ExitCause,
    /// The evidence that decided it.
    pub evidence: Evidence,
    /// The last lines of output.
    pub logs: LogTail,
    /// Whether the box had to be killed after a stop's grace ran out.
    pub killed: bool,
    /// The host at the moment of death, when the launcher took it (the
    /// engine takes one itself otherwise).
    pub host: Option<stockade_proto::HostSnapshot>,
}

impl Exit {
    /// The end of a run that had no box to read (it never started, or was
    /// never launched): no evidence beyond `decided_by`, no output.
    pub fn without_box(cause: ExitCause, decided_by: &str) -> Exit {
        Exit {
            cause,
            evidence: Evidence { decided_by: decided_by.to_string(), ..Evidence::default() },
            logs: LogTail::default(),
            killed: false,
            host: None,
        }
    }
}

/// Starts and stops boxes. Methods must not block: results arrive as
/// [`RunEvent`]s on the channel given to [`Launcher::launch`].
pub trait Launcher: Send + 'static {
    /// Start a run. Its events go to `events`.
    fn launch(&mut self, request: LaunchRequest, events: mpsc::UnboundedSender<RunEvent>);
    /// Stop a run: signal, grace, then kill the whole box. The run then
    /// reports `Exited` as usual.
    fn stop(&mut self, run: RunId, request: StopRequest);
    /// Ask for a run's current usage; the answer arrives on `reply`
    /// (dropped when the run is unknown or gone).
    fn usage(&mut self, run: RunId, reply: oneshot::Sender<Usage>);
    /// Write new cgroup limits to a live run's box (`stockade reload`); the
    /// result goes to `reply` (dropped when the run is unknown or gone).
    fn set_limits(
        &mut self,
        run: RunId,
        limits: Limits,
        reply: oneshot::Sender<Result<(), String>>,
    );
    /// The run has exited and been handled; drop what is kept for it.
    fn forget(&mut self, run: RunId);
    /// Daemon recovery: kill whatever is still in a box left by an earlier
    /// daemon and remove it. Returns how many processes were killed.
    fn reclaim(&mut self, box_name: &str) -> Result<u32, String>;
    /// Daemon recovery: take over a box an earlier daemon left. `Ok(pid)`:
    /// it is watched like a launched run (its `OomKill` and one `Exited`
    /// arrive on `events`; no `Started`), also when its main process ended
    /// during the outage (the `Exited` then follows at once with the exit
    /// record's status). `Err`: what cannot be known — the run ends
    /// `interrupted` with this reason, and the box is left for `reclaim`.
    fn adopt(
        &mut self,
        request: AdoptRequest,
        events: mpsc::UnboundedSender<RunEvent>,
    ) -> Result<u32, String>;
}
