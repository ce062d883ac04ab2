//! [`StoreOptions`]: how durable, how much history.

/// SQLite's `synchronous` setting for the write connection.
///
/// In WAL mode `Full` fsyncs the WAL on every commit, so an acknowledged
/// transition survives power loss; `Normal` survives a crash of the process but
/// may lose the last commits on power loss. Group commit makes `Full` cheap
/// enough to be the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync on every commit (the default).
    #[default]
    Full,
    /// fsync only at checkpoints.
    Normal,
}

impl Synchronous {
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Settings of one [`crate::Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Durability of commits.
    pub synchronous: Synchronous,
    /// Keep about this many newest events; older ones are pruned in the
    /// background of writes. 0 keeps every event.
    pub event_retention: u64,
    /// Start a new, empty store even though one existed (or was lost) here:
    /// the old database, WAL and SHM are renamed to `<name>.old-<millis>`
    /// and kept. Without it a missing, empty or moved-aside store refuses to
    /// open. Meant for one start (`--new-store`), not for a unit file.
    pub new_store: bool,
    /// Size of the reserve file kept beside the database and released when
    /// the disk fills (see `reserve`); 0 disables it.
    pub reserve_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            synchronous: Synchronous::Full,
            event_retention: 100_000,
            new_store: false,
            reserve_bytes: crate::reserve::DEFAULT_RESERVE_BYTES,
        }
    }
}
