//! The supervisor: one task owns every service replica, job queue, pool and
//! timer, and decides what happens next.
//!
//! Start reading at [`engine::Engine::step`] (the decisions: one input in, the
//! effects out; a thin shell task performs them) and [`EngineHandle`] (how the
//! daemon talks to it). The engine never touches a process or a cgroup: it
//! asks a [`Launcher`] to start and stop boxes ([`SandboxLauncher`] for real,
//! `RecordingLauncher` in tests, behind the `test-support` feature) and hears
//! back through run events. It never waits on SQLite inline either: writes go through the store's writer
//! thread, and events are published only once committed.
//!
//! ```text
//!  commands ─┐                      ┌─> Launcher (spawner thread, watcher tasks)
//!  run events┼─> shell → Engine::step ┼─> Store::apply (writer thread, group commit)
//!  probes ───┤   (select! loop)     └─> broadcast of committed events
//!  commits ──┤
//!  deadline ─┘
//! ```

#![deny(missing_docs)]

mod backoff;
mod command;
pub mod engine;
mod error;
#[cfg(feature = "test-support")]
mod fake_launcher;
mod handle;
mod launcher;
mod log_file;
pub mod log_read;
pub mod logs;
mod postmortem;
mod probe;
mod replica;
mod sandbox_launcher;
mod stats;

pub use backoff::{StartWindow, delay};
pub use command::{Command, JobPage, ServiceAction, ShutdownPlan, ShutdownReport};
pub use engine::views::job_view_from_record;
pub use engine::{EngineConfig, HostSnapshotFn, start};
pub use error::EngineError;
#[cfg(feature = "test-support")]
pub use fake_launcher::RecordingLauncher;
pub use handle::EngineHandle;
pub use launcher::{
    AdoptRequest, Exit, LaunchRequest, Launcher, LogTarget, RunEvent, RunEventKind, StopReason,
    StopRequest,
};
pub use postmortem::summarize;
pub use probe::{ProbeKind, ProbeResult};
pub use replica::{AfterExit, IllegalTransition, Readiness, ReplicaEvent, ReplicaState};
pub use sandbox_launcher::{SandboxLauncher, WallsSite};
pub use stats::{EngineStats, Room, WAIT_BUCKETS, WaitHistogram};
