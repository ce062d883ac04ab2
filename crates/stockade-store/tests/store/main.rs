//! Integration tests of stockade-store against real SQLite files in tempdirs:
//! durability across reopen, fencing, group commit, crash safety (a child
//! process SIGKILLed mid-submission), corruption, a lost store, file modes, locking, scaled services and held replicas, a full disk (with and
//! without the reserve) and
//! migration of the v1 fixture.

mod corrupt;
mod crash;
mod disk_full;
mod events;
mod fencing;
mod fixture;
mod group_commit;
mod jobs;
mod lock;
mod lost;
mod overrides;
mod private;
mod prune;
mod read_only;
mod reserve;
mod runs;
mod schedules;
mod setup;
