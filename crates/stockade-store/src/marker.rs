//! [`Marker`]: the state directory's memory that a store lives here.
//!
//! The marker is a small JSON file beside the database, named after its stem
//! (`stockade.db` → `stockade.marker.json`) so `rm stockade.db*` does not
//! take it along. It is written (atomically: temp file, fsync, rename, fsync
//! of the directory) when a store is first opened successfully, updated with
//! the database's size at every open and clean close, and when a corrupt file
//! is moved aside. Because it survives the database's loss, an open can tell
//! "first start in an empty directory" (no marker, no file) from "the store
//! was deleted, truncated or moved aside" (marker, no usable file) and refuse
//! the latter instead of silently starting empty.

use crate::StoreError;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What the marker remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Marker {
    /// Format of this file.
    pub version: u32,
    /// A random id given to the store when it was created.
    pub store_id: String,
    /// When the store was created (unix millis).
    pub created_at: u64,
    /// The database file's name in the directory.
    pub db: String,
    /// The database's size in bytes (page_count × page_size, WAL included)
    /// when last opened or closed.
    pub last_bytes: u64,
    /// When the marker was last written (unix millis).
    pub updated_at: u64,
    /// A corrupt database moved aside and not yet replaced: the next open
    /// refuses until a file is put back or a new store is asked for.
    #[serde(default)]
    pub moved_aside: Option<MovedAside>,
    /// Files of earlier stores kept aside by `new_store` or as corrupt, oldest first.
    #[serde(default)]
    pub previous: Vec<PathBuf>,
}

/// A corrupt database that was moved aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MovedAside {
    /// Where it went.
    pub to: PathBuf,
    /// What the integrity check said.
    pub detail: String,
    /// When (unix millis).
    pub at: u64,
}

impl Marker {
    /// The marker path for the database at `db`.
    pub(crate) fn path_for(db: &Path) -> PathBuf {
        sibling(db, "marker.json")
    }

    /// A marker for a store created now.
    pub(crate) fn new(db: &Path) -> Marker {
        let now = now_millis();
        Marker {
            version: 1,
            store_id: random_id(),
            created_at: now,
            db: db.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            last_bytes: 0,
            updated_at: now,
            moved_aside: None,
            previous: Vec::new(),
        }
    }

    /// Read the marker of `db`; `None` if there is none.
    pub(crate) fn read(db: &Path) -> Result<Option<Marker>, StoreError> {
        let path = Self::path_for(db);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(StoreError::BadMarker { path, detail: err.to_string() }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| StoreError::BadMarker { path, detail: err.to_string() })
    }

    /// Write the marker of `db` atomically with mode 0600.
    pub(crate) fn write(&mut self, db: &Path) -> Result<(), StoreError> {
        self.updated_at = now_millis();
        let path = Self::path_for(db);
        let tmp = sibling(db, "marker.json.tmp");
        let io = |action, source: std::io::Error| StoreError::Io {
            action,
            path: path.clone(),
            source: std::sync::Arc::new(source),
        };
        let mut text = serde_json::to_vec_pretty(self)
            .map_err(|e| io("encode marker", std::io::Error::other(e)))?;
        text.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("create marker", e))?;
        file.write_all(&text).and_then(|()| file.sync_all()).map_err(|e| io("write marker", e))?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(|e| io("replace marker", e))?;
        if let Some(dir) = path.parent() {
            // The rename is durable only once the directory is synced.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

/// `<dir>/<stem of db>.<suffix>`: beside the database, but not matching `<db>*`.
pub(crate) fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let stem = db.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    db.with_file_name(format!("{stem}.{suffix}"))
}

pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// 16 hex digits from the kernel's random pool (the time, if that fails).
fn random_id() -> String {
    let mut bytes = [0u8; 8];
    let id = match std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
    {
        Ok(()) => u64::from_ne_bytes(bytes),
        Err(_) => now_millis() ^ (u64::from(std::process::id()) << 40),
    };
    format!("{id:016x}")
}
