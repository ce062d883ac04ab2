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
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { synchronous: Synchronous::Full, event_retention: 100_000 }
    }
}
