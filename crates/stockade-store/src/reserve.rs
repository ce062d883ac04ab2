//! [`Reserve`]: space held back on the store's filesystem for a bad day.
//!
//! A pre-allocated file (`<stem>.reserve`, 8 MiB by default, `fallocate`d so
//! the blocks are really taken) sits beside the database. When a commit fails
//! with SQLITE_FULL the writer deletes it: the WAL can then checkpoint and
//! truncate, and the writes that record what already happened (a run's end, a
//! job's transition) still commit, while new submissions are refused until
//! space returns. Once the filesystem has room for the reserve and as much
//! again, the writer allocates it anew and admits everything.
//!
//! Why a file and not a free-space check before each write: a check races
//! with every other writer on the filesystem (logs, agents) and frees nothing
//! once the disk is full; a held file is space nobody else can take, and
//! releasing it is exactly what lets SQLite finish a checkpoint.

use rustix::fs::{FallocateFlags, fallocate, statvfs};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The default size of the reserve.
pub const DEFAULT_RESERVE_BYTES: u64 = 8 * 1024 * 1024;

/// The reserve file of one store.
#[derive(Debug)]
pub(crate) struct Reserve {
    path: PathBuf,
    bytes: u64,
    held: bool,
}

impl Reserve {
    /// The reserve of the store at `db`, `bytes` large (0: no reserve).
    pub(crate) fn new(db: &Path, bytes: u64) -> Reserve {
        Reserve { path: crate::marker::sibling(db, "reserve"), bytes, held: false }
    }

    /// Whether a reserve is configured at all.
    pub(crate) fn enabled(&self) -> bool {
        self.bytes > 0
    }

    /// Whether the file is currently allocated.
    pub(crate) fn held(&self) -> bool {
        self.held
    }

    /// Allocate the file (keeping one that is already whole). Returns why not.
    pub(crate) fn acquire(&mut self) -> Result<(), std::io::Error> {
        if !self.enabled() || self.held {
            return Ok(());
        }
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= self.bytes) {
            self.held = true;
            return Ok(());
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(crate::private::FILE_MODE)
            .open(&self.path)?;
        let allocated = match fallocate(&file, FallocateFlags::empty(), 0, self.bytes) {
            Ok(()) => Ok(()),
            // A filesystem without fallocate: write the zeros ourselves.
            Err(rustix::io::Errno::OPNOTSUPP) => write_zeros(&file, self.bytes),
            Err(errno) => Err(errno.into()),
        };
        if let Err(err) = allocated.and_then(|()| file.sync_all()) {
            drop(file);
            let _ = std::fs::remove_file(&self.path);
            return Err(err);
        }
        self.held = true;
        Ok(())
    }

    /// Delete the file so its space is free for the database.
    pub(crate) fn release(&mut self) {
        if !self.held {
            return;
        }
        self.held = false;
        match std::fs::remove_file(&self.path) {
            Ok(()) => tracing::warn!(
                path = %self.path.display(),
                bytes = self.bytes,
                "store's filesystem is full: released the reserve so the WAL can checkpoint; new submissions are refused until space returns"
            ),
            Err(err) => {
                tracing::error!(path = %self.path.display(), %err, "could not release the store's reserve")
            }
        }
    }

    /// Re-allocate after a release, once the filesystem has room for the
    /// reserve and as much again. Returns whether it is held now.
    pub(crate) fn try_restore(&mut self) -> bool {
        if self.held || !self.enabled() {
            return self.held;
        }
        if free_bytes(&self.path).is_some_and(|free| free < self.bytes.saturating_mul(2)) {
            return false;
        }
        match self.acquire() {
            Ok(()) => {
                tracing::info!(path = %self.path.display(), "space returned: the store's reserve is allocated again and submissions are admitted");
                true
            }
            Err(err) => {
                tracing::debug!(path = %self.path.display(), %err, "reserve not yet re-allocated");
                false
            }
        }
    }
}

/// Bytes available to this process on the filesystem holding `path`.
pub(crate) fn free_bytes(path: &Path) -> Option<u64> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    statvfs(dir).ok().map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}

fn write_zeros(file: &std::fs::File, bytes: u64) -> Result<(), std::io::Error> {
    use std::io::Write;
    let block = vec![0u8; 64 * 1024];
    let mut left = bytes;
    let mut out = file;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    Ok(())
}
