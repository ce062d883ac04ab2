//! Reads: synchronous queries on read-only connections, beside the writer.
//!
//! WAL lets readers run while the writer commits, so reads never queue behind
//! a group commit. They are plain `fn`s: each is one indexed query that takes
//! microseconds; the engine may call them directly, or from `spawn_blocking`
//! for the unbounded listings. Connections are pooled: a read takes an idle
//! one or opens a new one, and returns it afterwards. The queries themselves
//! are `impl Store` blocks in this module's files, one per table.

mod events;
mod jobs;
mod postmortems;
mod runs;
mod schedules;

use crate::StoreError;
use crate::open::open_reader;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Idle connections kept for reuse; more concurrent readers than this open
/// and close their own.
const MAX_IDLE: usize = 4;

/// The pool of read-only connections.
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Readers {
        Readers { path, idle: Mutex::new(Vec::new()) }
    }

    /// Close every idle connection. Called before the writer closes, so the
    /// writer's connection is the last one and SQLite checkpoints the WAL
    /// into the main file and removes it.
    pub(crate) fn close(&self) {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }

    /// Run `query` on a read connection.
    pub(crate) fn with<T>(
        &self,
        query: impl FnOnce(&Connection, &Path) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // A panic while holding the lock cannot leave the Vec inconsistent.
        let idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let result = query(&conn, &self.path);
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }
}

/// Collect `rows` of a prepared query through `decode`.
pub(crate) fn collect<T>(
    mut rows: rusqlite::Rows<'_>,
    path: &Path,
    decode: impl Fn(&rusqlite::Row<'_>, &Path) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| StoreError::sqlite(path, e))? {
        out.push(decode(row, path)?);
    }
    Ok(out)
}
