//! [`EngineError`]: what a command to the engine can fail with.

use stockade_proto::{ApiError, JobId, JobState};
use stockade_store::StoreError;

/// Why the engine refused or could not carry out a command. Each variant has
/// a stable [`EngineError::code`] and a hint; the daemon maps codes to HTTP
/// statuses.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No `[service.NAME]` of that name.
    #[error("no service named `{name}`")]
    UnknownService {
        /// The name asked for.
        name: String,
        /// The services there are.
        known: Vec<String>,
    },
    /// No `[job.NAME]` of that name.
    #[error("no job template named `{name}`")]
    UnknownTemplate {
        /// The name asked for.
        name: String,
        /// The templates there are.
        known: Vec<String>,
    },
    /// No job with that id.
    #[error("no job with id {id}")]
    UnknownJob {
        /// The id asked for.
        id: JobId,
    },
    /// The pool's queue is at `max_queued`.
    #[error("pool `{pool}` is full: {queued} jobs queued, max_queued = {max_queued}")]
    QueueFull {
        /// The pool.
        pool: String,
        /// Jobs queued now.
        queued: u64,
        /// Its bound.
        max_queued: u64,
        /// A fair wait before trying again, in seconds.
        retry_after_secs: u64,
    },
    /// The job already ended.
    #[error("job {id} already finished ({state})")]
    AlreadyFinished {
        /// The job.
        id: JobId,
        /// Its final state.
        state: JobState,
    },
    /// A move the lifecycle does not allow in the state the unit is in.
    #[error("{what}: {message}")]
    IllegalMove {
        /// The job or replica.
        what: String,
        /// Which move from which state.
        message: String,
    },
    /// The request itself is wrong.
    #[error("{message}")]
    BadRequest {
        /// What is wrong with it.
        message: String,
    },
    /// The store failed; nothing was acknowledged.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    /// The daemon is shutting down and takes no new work.
    #[error("the daemon is shutting down")]
    ShuttingDown,
    /// The daemon is draining before a planned stop (`stockade down
    /// --drain`): running jobs may finish, nothing new is taken.
    #[error("the daemon is draining before it stops and takes no new jobs")]
    Draining,
    /// A reload would strand live work; nothing was changed.
    #[error("reload refused: {message}")]
    ReloadRefused {
        /// What stands in the way.
        message: String,
        /// What to do.
        hint: String,
    },
}

impl EngineError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::UnknownService { .. } => "unknown_service",
            EngineError::UnknownTemplate { .. } => "unknown_template",
            EngineError::UnknownJob { .. } => "unknown_job",
            EngineError::QueueFull { .. } => "queue_full",
            EngineError::AlreadyFinished { .. } => "already_finished",
            EngineError::IllegalMove { .. } => "illegal_transition",
            EngineError::BadRequest { .. } => "bad_request",
            EngineError::Store(StoreError::DiskFull { .. }) => "disk_full",
            EngineError::Store(_) => "store_failed",
            EngineError::ShuttingDown => "shutting_down",
            EngineError::Draining => "draining",
            EngineError::ReloadRefused { .. } => "reload_refused",
        }
    }

    /// What to do next.
    pub fn hint(&self) -> String {
        match self {
            EngineError::UnknownService { known, .. } => {
                format!("known services: {}", list(known))
            }
            EngineError::UnknownTemplate { known, .. } => {
                format!("known job templates: {}", list(known))
            }
            EngineError::UnknownJob { .. } => "list jobs with `stockade ps`".into(),
            EngineError::QueueFull { retry_after_secs, pool, .. } => format!(
                "retry in about {retry_after_secs}s, or raise `max_queued` of [pool.{pool}]"
            ),
            EngineError::AlreadyFinished { id, .. } => {
                format!("see how it ended with `stockade postmortem {id}`")
            }
            EngineError::IllegalMove { .. } => {
                "see its state with `stockade status` or `stockade ps`, then retry".into()
            }
            EngineError::BadRequest { .. } => "fix the request and send it again".into(),
            EngineError::Store(StoreError::DiskFull { .. }) => {
                "free space on the state directory's disk; nothing was acknowledged".into()
            }
            EngineError::Store(_) => "see the daemon's log; nothing was acknowledged".into(),
            EngineError::ShuttingDown => "start the daemon again and resubmit".into(),
            EngineError::Draining => {
                "submit again once the daemon is back (`stockade up` / `stockade daemon`)".into()
            }
            EngineError::ReloadRefused { hint, .. } => hint.clone(),
        }
    }

    /// The API error body.
    pub fn to_api(&self) -> ApiError {
        ApiError::new(self.code(), self.to_string(), self.hint())
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() { "none".into() } else { names.join(", ") }
}
