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
    /// was moved aside (and named in the state dir's marker); no fresh store
    /// was created, and the next open refuses with [`StoreError::MovedAside`]
    /// until the operator restores a file or asks for a new store.
    #[error(
        "store {path} is corrupt ({detail}); it was moved to {moved_to}; hint: salvage it with `sqlite3 {moved_to} .recover | sqlite3 {path}` and start again, or start an empty store with `stockade daemon --new-store` (the old state stays in the moved file)",
        moved_to = moved_to.display(),
        path = path.display()
    )]
    Corrupt {
        /// Where the database was.
        path: PathBuf,
        /// Where it is now.
        moved_to: PathBuf,
        /// What SQLite reported.
        detail: String,
    },

    /// A store existed here (the marker says so) but its database file is gone.
    #[error(
        "store {path} is missing, but the marker {marker} says store {store_id} (created {created_at} ms since the epoch, last seen with {last_bytes} bytes) lived here; nothing was started; hint: put the file back (from a backup) at {path} and start again, or start an empty store with `stockade daemon --new-store` / `stockade up --new-store`",
        path = path.display(),
        marker = marker.display()
    )]
    Missing {
        /// Where the database should be.
        path: PathBuf,
        /// The marker that remembers it.
        marker: PathBuf,
        /// The id the marker records.
        store_id: String,
        /// When that store was created (unix millis).
        created_at: u64,
        /// The database's size when last opened or closed.
        last_bytes: u64,
    },

    /// The database file is 0 bytes (and has no WAL): it was truncated. A store
    /// never leaves an empty file behind, so this is never taken for a first start.
    #[error(
        "store {path} is empty (0 bytes){known}; nothing was started; hint: put the file back (from a backup) at {path} and start again, or start an empty store with `stockade daemon --new-store` / `stockade up --new-store` (the empty file is kept aside)",
        path = path.display(),
        known = match last_bytes { Some(n) => format!(", but it held {n} bytes when last seen"), None => String::new() }
    )]
    Empty {
        /// The database file.
        path: PathBuf,
        /// Its size when last seen, if the marker knows.
        last_bytes: Option<u64>,
    },

    /// An earlier open moved a corrupt database aside; the store refuses to
    /// start empty in its place without being told to.
    #[error(
        "store {path} was moved aside to {moved_to} as corrupt ({detail}); nothing was started; hint: salvage it with `sqlite3 {moved_to} .recover | sqlite3 {path}` and start again, or start an empty store with `stockade daemon --new-store` / `stockade up --new-store`",
        path = path.display(),
        moved_to = moved_to.display()
    )]
    MovedAside {
        /// Where the database should be.
        path: PathBuf,
        /// Where the corrupt file was moved.
        moved_to: PathBuf,
        /// Why it was moved.
        detail: String,
    },

    /// The marker file that remembers the store is unreadable.
    #[error(
        "store marker {path} is unreadable ({detail}); nothing was started; hint: if the store next to it is intact, delete the marker and start again (a new one is written); otherwise start an empty store with `stockade daemon --new-store`",
        path = path.display()
    )]
    BadMarker {
        /// The marker file.
        path: PathBuf,
        /// What was wrong with it.
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

    /// A read-only open ([`crate::Store::open_read_only`]) found no database
    /// file: nothing is created by a reader.
    #[error(
        "no store at {path}; hint: the daemon has not run with this state_dir yet (start it with `stockade up` or `stockade daemon`)",
        path = path.display()
    )]
    NoStore {
        /// Where the database should be.
        path: PathBuf,
    },

    /// A read-only open found a schema older than this build's: only the
    /// daemon migrates (a reader writes nothing).
    #[error(
        "store {path} has schema version {found}, older than the {supported} this stockade reads; hint: start the daemon once (it migrates the store), or read it with the stockade that wrote it",
        path = path.display()
    )]
    TooOld {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },

    /// SQLite reported SQLITE_FULL: the filesystem (or the database's page
    /// cap) is full, or the store refused new work while its reserve is
    /// released. Retryable: nothing of the write was kept, and the store
    /// recovers by itself once there is room.
    #[error(
        "store {path} is full: the write was not committed; hint: free space on the filesystem holding it (df -h {dir}); the store recovers by itself, then retry",
        dir = path.parent().map(|p| p.display().to_string()).unwrap_or_default()
    )]
    DiskFull {
        /// The database file.
        path: PathBuf,
    },

    /// SQLite reported an I/O error (SQLITE_IOERR: EIO, a failed fsync or
    /// truncate). Retryable: nothing of the write was kept.
    #[error(
        "store {path}: I/O error, the write was not committed ({detail}); hint: check the disk holding it (dmesg); retry once it is healthy"
    )]
    DiskIo {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
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
    /// Map a rusqlite error, turning SQLITE_FULL into [`StoreError::DiskFull`]
    /// and SQLITE_IOERR into [`StoreError::DiskIo`].
    pub(crate) fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> StoreError {
        match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => {
                StoreError::DiskFull { path: path.to_path_buf() }
            }
            Some(rusqlite::ErrorCode::SystemIoFailure) => {
                StoreError::DiskIo { path: path.to_path_buf(), detail: source.to_string() }
            }
            _ => StoreError::Sqlite { path: path.to_path_buf(), source: Arc::new(source) },
        }
    }

    /// Whether the same write may succeed later without anyone changing it:
    /// a full disk, an I/O error or a busy database. Nothing of the failed
    /// write was kept, so retrying (with backoff) is safe; fenced and other
    /// refusals are not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::DiskFull { .. } | StoreError::DiskIo { .. } => true,
            StoreError::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }

    /// Whether the store refused to open because its database is missing,
    /// empty, moved aside or its marker unreadable: the operator must restore
    /// the file or start fresh with `new_store`.
    pub fn needs_new_store(&self) -> bool {
        matches!(
            self,
            StoreError::Missing { .. }
                | StoreError::Empty { .. }
                | StoreError::MovedAside { .. }
                | StoreError::Corrupt { .. }
                | StoreError::BadMarker { .. }
        )
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

#[cfg(test)]
mod tests {
    use super::StoreError;
    use rusqlite::ffi;
    use std::path::Path;

    fn from_code(code: i32) -> StoreError {
        StoreError::sqlite(
            Path::new("/s/stockade.db"),
            rusqlite::Error::SqliteFailure(ffi::Error::new(code), None),
        )
    }

    #[test]
    fn full_io_and_busy_are_retryable_and_the_rest_is_not() {
        assert!(matches!(from_code(ffi::SQLITE_FULL), StoreError::DiskFull { .. }));
        let io = from_code(ffi::SQLITE_IOERR_WRITE);
        assert!(matches!(io, StoreError::DiskIo { .. }), "{io}");
        assert!(io.to_string().contains("/s/stockade.db"), "{io}");
        for code in [ffi::SQLITE_FULL, ffi::SQLITE_IOERR_FSYNC, ffi::SQLITE_BUSY] {
            assert!(from_code(code).is_retryable(), "{code}");
        }
        for code in [ffi::SQLITE_CONSTRAINT, ffi::SQLITE_CORRUPT, ffi::SQLITE_READONLY] {
            assert!(!from_code(code).is_retryable(), "{code}");
        }
    }
}
