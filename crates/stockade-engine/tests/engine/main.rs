//! Engine tests: the real engine loop over a real SQLite store, with the
//! recording fake launcher standing in for boxes. Time is paused where the
//! test is about timing (backoff, start limit, timeouts) and nothing waits on
//! a real process.

mod admission;
mod commands;
mod helpers;
mod jobs;
mod recovery;
mod reload;
mod schedules;
mod services;
