//! Private by default: the store's directory is 0700 and every file of the
//! store (database, WAL, SHM, lock, marker, reserve) 0600, whatever existed
//! before. The database holds job args and env (secrets among them), so a
//! looser mode found at open is tightened, with one warning naming the path
//! and the mode it had.
//!
//! New files are created 0600 by the store itself (the database is created
//! before SQLite opens it, and SQLite gives the WAL and SHM the database's
//! mode), so tightening at open covers what an older stockade, an operator or
//! a restore from backup left behind.

use crate::StoreError;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

/// The directory's mode.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Every file's mode.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Tighten `path` to `mode` if it grants more than `mode`; absent is fine.
pub(crate) fn tighten(path: &Path, mode: u32) -> Result<(), StoreError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(io("inspect", path, err)),
    };
    if meta.file_type().is_symlink() {
        // chmod follows links; a link in the state dir is the operator's choice
        // (e.g. the database on another disk) and its target is tightened when
        // opened through it.
        return Ok(());
    }
    let old = meta.permissions().mode() & 0o7777;
    if old & !mode == 0 {
        return Ok(());
    }
    if meta.is_dir() && old & 0o1000 != 0 {
        // A sticky directory is shared by design (/tmp): a store placed
        // directly in it gets private files, but the directory is not ours.
        tracing::warn!(path = %path.display(), mode = format!("{old:04o}"), "the store's directory is a shared (sticky) directory; not tightened — give the store a directory of its own");
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|err| io("tighten the mode of", path, err))?;
    tracing::warn!(
        path = %path.display(),
        old_mode = format!("{old:04o}"),
        new_mode = format!("{mode:04o}"),
        "store file was readable by others; tightened"
    );
    Ok(())
}

/// Tighten the directory holding `db` and every store file in it.
pub(crate) fn tighten_all(db: &Path, files: &[&Path]) -> Result<(), StoreError> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        tighten(dir, DIR_MODE)?;
    }
    for file in files {
        tighten(file, FILE_MODE)?;
    }
    Ok(())
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io { action, path: path.to_path_buf(), source: Arc::new(source) }
}
