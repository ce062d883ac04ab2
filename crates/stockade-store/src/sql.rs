//! Attaching the database path to rusqlite errors, so every [`StoreError`]
//! names the file it is about.

use crate::StoreError;
use std::path::Path;

/// `.at(path)` on a rusqlite result.
pub(crate) trait SqlResultExt<T> {
    /// Map the error into a [`StoreError`] naming `path`.
    fn at(self, path: &Path) -> Result<T, StoreError>;
}

impl<T> SqlResultExt<T> for rusqlite::Result<T> {
    fn at(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::sqlite(path, e))
    }
}
