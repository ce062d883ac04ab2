//! Opening the database file: the integrity check, moving a corrupt file aside,
//! and the pragmas every connection needs.

use crate::sql::SqlResultExt;
use crate::{StoreError, Synchronous};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a connection waits on a lock held by another connection (a
/// checkpoint, or a reader during WAL reset) before failing with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Above this size the open-time check is `quick_check` instead of
/// `integrity_check`. `integrity_check` also verifies that every index matches
/// its table, which costs O(N log N) and minutes on multi-GiB files; the store
/// prunes events and its hot tables stay small, so nearly every open gets the
/// full check, and a huge file still opens in bounded time with the O(N) page
/// and record checks of `quick_check`.
const FULL_CHECK_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Open the write connection: check integrity (moving a corrupt file aside),
/// switch to WAL, set durability.
pub(crate) fn open_writer(path: &Path, synchronous: Synchronous) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).at(path)?;
    match check(&conn, path) {
        Ok(()) => {}
        Err(Verdict::Corrupt(detail)) => {
            drop(conn);
            return Err(move_aside(path, detail));
        }
        Err(Verdict::Failed(err)) => return Err(err),
    }
    conn.busy_timeout(BUSY_TIMEOUT).at(path)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).at(path)?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Some filesystems (no shared memory, e.g. certain network mounts)
        // cannot do WAL; the store still works, with writers blocking readers.
        tracing::warn!(path = %path.display(), mode, "store could not switch to WAL mode");
    }
    conn.pragma_update(None, "synchronous", synchronous.pragma_value()).at(path)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Open a read-only connection for queries.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).at(path)?;
    conn.busy_timeout(BUSY_TIMEOUT).at(path)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Why the check did not pass.
enum Verdict {
    /// The file is damaged or not a database: move it aside.
    Corrupt(String),
    /// Something else went wrong (permissions, I/O): report it, touch nothing.
    Failed(StoreError),
}

fn check(conn: &Connection, path: &Path) -> Result<(), Verdict> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Ok(()); // a new file: nothing to check
    }
    let pragma = if size > FULL_CHECK_MAX_BYTES { "quick_check" } else { "integrity_check" };
    let result = conn
        .prepare(&format!("PRAGMA {pragma}"))
        .and_then(|mut stmt| stmt.query_map([], |row| row.get::<_, String>(0))?.collect());
    match result {
        Ok(lines) => {
            let lines: Vec<String> = lines;
            if lines.len() == 1 && lines[0] == "ok" {
                Ok(())
            } else {
                let mut detail = lines.into_iter().take(3).collect::<Vec<_>>().join("; ");
                if detail.is_empty() {
                    detail = format!("{pragma} returned nothing");
                }
                Err(Verdict::Corrupt(format!("{pragma}: {detail}")))
            }
        }
        Err(err) => match err.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                Err(Verdict::Corrupt(err.to_string()))
            }
            _ => Err(Verdict::Failed(StoreError::sqlite(path, err))),
        },
    }
}

/// Rename `path` (and its `-wal`/`-shm` companions, which belong to the damaged
/// file) to `<name>.corrupt-<millis>`, and build the error that says where.
fn move_aside(path: &Path, detail: String) -> StoreError {
    let kept = match crate::presence::keep_aside(path, "corrupt", true) {
        Ok(kept) => kept,
        Err(err) => return err,
    };
    let Some(moved_to) = kept.first().cloned() else {
        return StoreError::Io {
            action: "move corrupt database aside",
            path: path.to_path_buf(),
            source: Arc::new(std::io::Error::from(std::io::ErrorKind::NotFound)),
        };
    };
    tracing::error!(path = %path.display(), moved_to = %moved_to.display(), %detail, "store is corrupt; moved aside");
    StoreError::Corrupt { path: path.to_path_buf(), moved_to, detail }
}
