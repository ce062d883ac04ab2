//! stockade-store: the daemon's durable state in one SQLite file — jobs, runs,
//! post-mortems, the event log and a journal of every state transition.
//!
//! Start at [`Store`]: [`Store::open`] takes an exclusive lock on the file,
//! refuses a store that was deleted, truncated or moved aside (module
//! `presence`, remembered by the state dir's `marker`), tightens modes to
//! 0700/0600 (`private`), checks its integrity (a corrupt file is moved aside
//! and reported, never silently replaced), applies the numbered migrations in `migrations/` and
//! starts the writer thread. Writes are [`Write`] values sent to that one
//! thread, which group-commits everything queued into one transaction and
//! answers each caller after COMMIT (module `writer`); a state change, its
//! journal row and its [`stockade_proto::Event`] always commit together.
//! Reads are synchronous queries on a pool of read-only connections
//! (module `read`), which WAL lets run beside the writer.
//!
//! The store knows nothing about processes: the engine decides, the store
//! remembers and fences (a job transition is refused unless the job is still in
//! the state and attempt the caller saw).

#![deny(missing_docs)]

mod codec;
mod error;
mod health;
mod job;
mod lock;
mod marker;
mod migrate;
mod open;
mod options;
mod presence;
mod private;
mod read;
mod reserve;
mod run;
mod sql;
mod store;
mod write;
mod writer;

pub use error::StoreError;
pub use health::StoreHealth;
pub use job::{JobFilter, JobRecord, NewJob};
pub use migrate::SCHEMA_VERSION;
pub use options::{StoreOptions, Synchronous};
pub use reserve::DEFAULT_RESERVE_BYTES;
pub use run::{NewRun, RunRecord, UnitPeaks};
pub use store::{Store, StoreStats};
pub use write::{Applied, Scale, Write};
