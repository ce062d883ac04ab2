//! Numbered, append-only schema migrations, embedded in the binary and tracked
//! in SQLite's `user_version`.
//!
//! To change the schema, add `migrations/000N_what.sql` and one line to
//! [`MIGRATIONS`]; never edit a shipped file. `tests/fixtures/v1.sqlite3` (a
//! database written at version 1) must keep opening.

use crate::StoreError;
use crate::sql::SqlResultExt;
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// One schema step.
pub(crate) struct Migration {
    /// The `user_version` after this step; consecutive from 1.
    pub version: u32,
    /// The SQL, run in one transaction together with the version bump.
    pub sql: &'static str,
}

/// Every migration, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, sql: include_str!("../migrations/0001_init.sql") },
    Migration { version: 2, sql: include_str!("../migrations/0002_idempotency_key.sql") },
    Migration { version: 3, sql: include_str!("../migrations/0003_schedules.sql") },
    Migration { version: 4, sql: include_str!("../migrations/0004_held_services.sql") },
    Migration { version: 5, sql: include_str!("../migrations/0005_replica_overrides.sql") },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Bring the database at `path` up to [`SCHEMA_VERSION`]; returns the version
/// it was at before.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<u32, StoreError> {
    let found: u32 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).at(path)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        // The version bump commits with the schema change, so a crash mid-way
        // leaves either the old or the new version, never a half-applied one.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).at(path)?;
        tx.execute_batch(migration.sql).at(path)?;
        tx.pragma_update(None, "user_version", migration.version).at(path)?;
        tx.commit().at(path)?;
        tracing::info!(path = %path.display(), version = migration.version, "store migrated");
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1);
        }
    }

    #[test]
    fn migrating_twice_changes_nothing_and_a_newer_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite3");
        let mut conn = Connection::open(&path).unwrap();
        assert_eq!(migrate(&mut conn, &path).unwrap(), 0);
        assert_eq!(migrate(&mut conn, &path).unwrap(), SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        let err = migrate(&mut conn, &path).unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
    }
}
