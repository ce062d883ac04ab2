//! The daemon's integration tests, one binary: the real daemon in-process
//! (`stockade_testkit::TestDaemon`), real boxes, its real socket.

mod alerts;
mod blocking;
mod contract;
mod disk;
mod door;
mod exec;
mod guard;
mod hostile;
mod metrics;
mod monitor;
mod retention;
