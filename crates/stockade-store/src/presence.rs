//! Deciding, before SQLite touches anything, whether opening the database at
//! a path may go ahead: the store is never silently replaced.
//!
//! | marker | database file | outcome |
//! |---|---|---|
//! | none | none | first start: a new store is created |
//! | none | present | an existing store (an older stockade's): opened, marker written |
//! | any | 0 bytes, no WAL | refused, [`StoreError::Empty`] (a store never leaves an empty file) |
//! | present | none | refused, [`StoreError::Missing`] — or [`StoreError::MovedAside`] if an earlier open moved it aside as corrupt |
//! | present, moved aside | present | a restored file: opened, the moved-aside note cleared |
//!
//! With `new_store` every existing file (database, WAL, SHM) is renamed to
//! `<name>.old-<millis>` and a new store starts, logged at error level; the
//! marker lists the kept files under `previous`.

use crate::StoreError;
use crate::marker::{Marker, now_millis};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the checks found, for the open that follows.
pub(crate) enum Presence {
    /// No store here yet (or a new one was asked for): the file will be created.
    New(Marker),
    /// A store file to open; the marker if there is one.
    Existing(Option<Marker>),
}

/// Check `db` against its marker; with `new_store`, keep the old files aside.
pub(crate) fn check(db: &Path, new_store: bool) -> Result<Presence, StoreError> {
    let marker = Marker::read(db);
    if new_store {
        return start_fresh(db, marker.ok().flatten());
    }
    let marker = marker?;
    let db_len = len(db)?;
    let wal_len = len(&with_suffix(db, "-wal"))?;
    match (db_len, &marker) {
        (Some(0), _) if wal_len.unwrap_or(0) == 0 => Err(StoreError::Empty {
            path: db.to_path_buf(),
            last_bytes: marker.as_ref().map(|m| m.last_bytes),
        }),
        (Some(_), _) => {
            if let Some(moved) = marker.as_ref().and_then(|m| m.moved_aside.as_ref()) {
                tracing::info!(path = %db.display(), moved_to = %moved.to.display(), "a database is back where a corrupt one was moved aside; opening it");
            }
            Ok(Presence::Existing(marker))
        }
        (None, Some(m)) => Err(match &m.moved_aside {
            Some(moved) => StoreError::MovedAside {
                path: db.to_path_buf(),
                moved_to: moved.to.clone(),
                detail: moved.detail.clone(),
            },
            None => StoreError::Missing {
                path: db.to_path_buf(),
                marker: Marker::path_for(db),
                store_id: m.store_id.clone(),
                created_at: m.created_at,
                last_bytes: m.last_bytes,
            },
        }),
        (None, None) => {
            // A WAL or SHM without its database belongs to no store this one
            // could open; SQLite must not replay it into a new file.
            let orphans = keep_aside(db, "orphan", false)?;
            if !orphans.is_empty() {
                tracing::warn!(path = %db.display(), kept = ?orphans, "WAL/SHM files without a database were moved aside before creating the store");
            }
            Ok(Presence::New(Marker::new(db)))
        }
    }
}

/// `new_store`: keep whatever is there aside and start a new store.
fn start_fresh(db: &Path, old: Option<Marker>) -> Result<Presence, StoreError> {
    let kept = keep_aside(db, "old", true)?;
    let mut marker = Marker::new(db);
    let old_id = old.as_ref().map(|m| m.store_id.clone());
    if let Some(old) = old {
        marker.previous = old.previous;
        if let Some(moved) = old.moved_aside
            && !marker.previous.contains(&moved.to)
        {
            marker.previous.push(moved.to);
        }
    }
    marker.previous.extend(kept.iter().cloned());
    if kept.is_empty() && old_id.is_none() {
        tracing::warn!(path = %db.display(), "new store requested; there was no earlier store here");
    } else {
        tracing::error!(
            path = %db.display(),
            earlier_store = old_id.as_deref().unwrap_or("unknown"),
            kept_aside = ?kept,
            earlier = ?marker.previous,
            "STARTING A NEW, EMPTY STORE as requested (--new-store); the earlier store's files are kept aside, nothing was deleted"
        );
    }
    // Written now, so a crash before the first commit still knows the old
    // files' names (the next start would then refuse as Missing).
    marker.write(db)?;
    Ok(Presence::New(marker))
}

/// Rename `db` and its `-wal`/`-shm` to `<name><companion>.<label>-<millis>`.
/// With `with_db` false only the companions move. Returns the new paths.
pub(crate) fn keep_aside(
    db: &Path,
    label: &str,
    with_db: bool,
) -> Result<Vec<PathBuf>, StoreError> {
    let stamp = now_millis();
    let mut kept = Vec::new();
    let companions: &[&str] = if with_db { &["", "-wal", "-shm"] } else { &["-wal", "-shm"] };
    for companion in companions {
        let from = with_suffix(db, companion);
        if len(&from)?.is_none() {
            continue;
        }
        let to = with_suffix(db, &format!("{companion}.{label}-{stamp}"));
        std::fs::rename(&from, &to).map_err(|source| StoreError::Io {
            action: "keep aside",
            path: from.clone(),
            source: Arc::new(source),
        })?;
        kept.push(to);
    }
    Ok(kept)
}

/// The file's length; `None` if it does not exist.
fn len(path: &Path) -> Result<Option<u64>, StoreError> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.len())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io {
            action: "inspect",
            path: path.to_path_buf(),
            source: Arc::new(source),
        }),
    }
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
