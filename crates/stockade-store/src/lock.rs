//! [`StateLock`]: one store per database file, enforced with `flock(2)` on
//! `<db>.lock`.
//!
//! flock locks belong to the open file description, so a second open in the
//! same process conflicts just like one from another process, and the kernel
//! drops the lock when the holder dies (even by SIGKILL): no stale-lock cleanup.

use crate::StoreError;
use rustix::fs::{FlockOperation, flock};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A held exclusive lock; released when dropped (the file is closed).
#[derive(Debug)]
pub(crate) struct StateLock {
    _file: File,
}

impl StateLock {
    /// The lock file that guards `db`.
    pub(crate) fn path_for(db: &Path) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Whether another process holds the lock for `db` now, without taking
    /// it (a shared lock, dropped at once): [`StoreError::Locked`] naming the
    /// holder's pid when one does. No lock file means no holder; nothing is
    /// created. A check before the daemon's preflight, so a second daemon is
    /// told "already running" instead of every port its agents hold.
    pub(crate) fn check_free(db: &Path) -> Result<(), StoreError> {
        let path = Self::path_for(db);
        let mut file = match OpenOptions::new().read(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(StoreError::Io {
                    action: "open lock file",
                    path: path.clone(),
                    source: Arc::new(e),
                });
            }
        };
        match flock(&file, FlockOperation::NonBlockingLockShared) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let mut text = String::new();
                let holder_pid =
                    file.read_to_string(&mut text).ok().and_then(|_| text.trim().parse().ok());
                Err(StoreError::Locked { path, holder_pid })
            }
            Err(errno) => {
                Err(StoreError::Io { action: "lock", path, source: Arc::new(errno.into()) })
            }
        }
    }

    /// Take the lock for `db` without waiting, and record our pid in it.
    pub(crate) fn acquire(db: &Path) -> Result<StateLock, StoreError> {
        let path = Self::path_for(db);
        let io_err = |action, source| StoreError::Io {
            action,
            path: path.clone(),
            source: Arc::new(source),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(crate::private::FILE_MODE)
            .open(&path)
            .map_err(|e| io_err("open lock file", e))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let mut text = String::new();
                // The pid is informational: a holder that has not written it
                // yet (or wrote garbage) still holds the lock.
                let holder_pid =
                    file.read_to_string(&mut text).ok().and_then(|_| text.trim().parse().ok());
                return Err(StoreError::Locked { path, holder_pid });
            }
            Err(errno) => return Err(io_err("lock", errno.into())),
        }
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{pid}"))
            .map_err(|e| io_err("write pid into lock file", e))?;
        Ok(StateLock { _file: file })
    }
}
