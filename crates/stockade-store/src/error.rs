//! [`StoreError`]: everything the store can refuse, with the path or id that
//! failed and what to do next.

use std::path::PathBuf;
use std::sync::Arc;
use stockade_proto::{JobId, JobState, RunId};

/// Why a store operation failed.
///
/// The type is `Clone` (sources sit behind `Arc`) because one failed group
/// commit answers every caller in the batch with the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another store (this process or another) holds the state directory.
    #[error(
        "store {path} is locked by {holder}; hint: stop the other stockade daemon using this state_dir, or point this one at another state_dir",
        holder = match holder_pid { Some(pid) => format!("pid {pid}"), None => "another process".to_string() }
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The pid written into the lock file by the holder, if readable.
        holder_pid: Option<u32>,
    },

    /// The database file failed its integrity check or is not a database. It
    /// was moved aside; no fresh store was created.
    #[error(
        "store {path} is corrupt ({detail}); it was moved to {moved_to}; hint: opening again starts an empty store (the old state stays in the moved file); to salvage it, run `sqlite3 {moved_to} .recover`",
        moved_to = moved_to.display()
    )]
    Corrupt {
        /// Where the database was.
        path: PathBuf,
        /// Where it is now.
        moved_to: PathBuf,
        /// What SQLite reported.
        detail: String,
    },

    /// The file was written by a newer stockade with migrations this build lacks.
    #[error(
        "store {path} has schema version {found}, newer than the {supported} this stockade knows; hint: run the newer stockade, or move the file away to start empty"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: u32,
        /// The highest version this build can migrate to.
        supported: u32,
    },

    /// SQLite reported SQLITE_FULL: the filesystem (or the database's page cap) is full.
    #[error(
        "store {path} is full: the write was not committed; hint: free space on the filesystem holding it (df -h), then retry"
    )]
    DiskFull {
        /// The database file.
        path: PathBuf,
    },

    /// Any other SQLite failure.
    #[error("store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: Arc<rusqlite::Error>,
    },

    /// A file operation around the database (lock file, moving a corrupt file) failed.
    #[error("store: cannot {action} {path}: {source}")]
    Io {
        /// What was being done, as a verb phrase ("open lock file").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// A stored column could not be decoded (a JSON value or an enum name).
    #[error("store: {table} row {id} has an unreadable {column}: {detail}")]
    BadRow {
        /// The table.
        table: &'static str,
        /// The row id.
        id: i64,
        /// The column.
        column: &'static str,
        /// What was wrong.
        detail: String,
    },

    /// A job transition was refused: the row is no longer in the state and
    /// attempt the caller saw (a stale attempt, or a concurrent change).
    #[error(
        "job {job} transition refused: expected {expected_state} attempt {expected_attempt}, found {found_state} attempt {found_attempt}; hint: the caller acted on a stale attempt, re-read the job"
    )]
    Fenced {
        /// The job.
        job: JobId,
        /// The state the caller expected.
        expected_state: JobState,
        /// The attempt the caller expected.
        expected_attempt: u32,
        /// The state in the store.
        found_state: JobState,
        /// The attempt in the store.
        found_attempt: u32,
    },

    /// No job with this id.
    #[error("job {job} is not in the store")]
    UnknownJob {
        /// The id asked for.
        job: JobId,
    },

    /// No run with this id.
    #[error("run {run} is not in the store")]
    UnknownRun {
        /// The id asked for.
        run: RunId,
    },

    /// The run already has an end; a second completion is refused (at-least-once
    /// delivery of exits must not overwrite the first).
    #[error("run {run} already ended; the second end was refused")]
    RunAlreadyEnded {
        /// The run.
        run: RunId,
    },

    /// The writer thread is gone (it panicked or the store is shutting down).
    #[error("store {path}: the writer thread has stopped; hint: restart the daemon")]
    Closed {
        /// The database file.
        path: PathBuf,
    },
}

impl StoreError {
    /// Map a rusqlite error, turning SQLITE_FULL into [`StoreError::DiskFull`].
    pub(crate) fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> StoreError {
        if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            return StoreError::DiskFull { path: path.to_path_buf() };
        }
        StoreError::Sqlite { path: path.to_path_buf(), source: Arc::new(source) }
    }

    /// Whether this error is a refusal of one write (the transaction around it
    /// is still healthy) rather than a storage failure.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(
            self,
            StoreError::Fenced { .. }
                | StoreError::UnknownJob { .. }
                | StoreError::UnknownRun { .. }
                | StoreError::RunAlreadyEnded { .. }
                | StoreError::BadRow { .. }
        )
    }
}
