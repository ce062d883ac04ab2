//! Wire and shared types of stockade: what crosses a crate boundary, the HTTP API
//! or the store.
//!
//! This crate owns names, not behaviour. Everything here is plain data with
//! `serde` derives; the JSON spelling of every enum is `snake_case` and is part
//! of the user contract (DESIGN.md §7a), so renaming a variant is a breaking
//! change. Start reading at [`ExitCause`], the one type every other crate
//! agrees on: how a run ended and why.
//!
//! ```
//! use stockade_proto::ExitCause;
//!
//! let cause = ExitCause::Signaled { signal: 11, core_dumped: true };
//! let json = serde_json::to_string(&cause).unwrap();
//! assert_eq!(json, r#"{"kind":"signaled","signal":11,"core_dumped":true}"#);
//! assert!(ExitCause::Exited { code: 0 }.is_success(&[0]));
//! ```

#![deny(missing_docs)]

mod cluster;
mod doctor;
mod error;
mod event;
mod exec;
mod exit;
mod id_range;
mod ids;
mod limits;
pub mod log_record;
mod outcome;
mod plan;
mod postmortem;
mod schedule;
mod state;
mod usage;
mod view;

pub use cluster::{ClusterView, Headroom, HostState, HostView};
pub use doctor::{Check, CheckStatus};
pub use error::ApiError;
pub use event::{Event, EventKind};
pub use exec::{
    EXEC_UPGRADE, ExecExit, ExecRequest, ExecTarget, Frame, FrameDecoder, FrameError, MAX_FRAME,
    TermSize,
};
pub use exit::{Evidence, ExitCause, SpawnErrorKind};
pub use id_range::{IDS_PER_BOX, IdRange};
pub use ids::{JobId, RunId, Seq, UnitKind};
pub use limits::Limits;
pub use log_record::{LogRecord, LogStream};
pub use outcome::Outcome;
pub use plan::{AlertChange, PlanAction, PlanUnit, ReloadPlan, SettingChange, UnitChange};
pub use postmortem::{HostSnapshot, LogTail, PostMortem, ProbeRecord};
pub use schedule::{JobSource, ScheduleView};
pub use state::{JobState, ServiceState};
pub use usage::Usage;
pub use view::{
    FiringAlert, FiringAlerts, Isolated, Isolation, JobRequest, JobView, Page, PoolView,
    QueuePosition, QueueStatus, ReplicaView, RunView, ScaledService, SpecFileView, StatusView,
    Submitted, Unwalled,
};

/// Milliseconds since the Unix epoch; the one timestamp format on the wire.
pub type UnixMillis = u64;

/// The current wall-clock time as [`UnixMillis`].
pub fn now_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
