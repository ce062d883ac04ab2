//! stockade-sandbox: the box every agent runs in.
//!
//! A box is a cgroup (v2, or one per v1 hierarchy) with memory, cpu and pids
//! limits, plus rlimits and a process group. [`Sandbox::new`] detects the
//! backend (cgroup v2, cgroup v1, or none) and starts the one spawner thread;
//! [`Sandbox::spawn`] creates a box and starts a program that joins the box
//! before exec; the returned [`Agent`] is waited on, watched for OOM kills,
//! sampled for usage, stopped (signal, grace, kill the whole box), and
//! finally [`Agent::finish`]ed, which reads the evidence, [`classify`]s the
//! death and removes the box.
//!
//! Start reading at `sandbox.rs`, then `spawn.rs` (the `pre_exec` join),
//! `agent.rs` (stop and finish) and `backend/mod.rs` (the two small traits
//! every backend implements). Kernel quirks are documented where they bite:
//! v1 OOM notification in `oom_watch.rs`, v1 killing in
//! `backend/v1/cgroup.rs`, fd limits in `rlimit.rs`.

#![deny(missing_docs)]

mod agent;
mod backend;
mod classify;
mod config;
mod detect;
mod error;
mod limits;
mod name;
mod oom_watch;
mod rlimit;
mod sandbox;
mod spawn;
mod spawn_hint;
mod spawner;
mod walls;

pub use agent::{Agent, AgentEvent, Death, StopOutcome};
pub use classify::{ClassifyInput, EndReason, classify};
pub use config::{BackendChoice, BackendKind, SandboxConfig};
pub use detect::{own_cgroup_dir, own_cgroup_dirs};
pub use error::{SandboxError, SpawnError};
pub use rlimit::raise_nofile_limit;
pub use sandbox::Sandbox;
pub use spawn::{EnvMode, ParentDeath, SpawnSpec};
