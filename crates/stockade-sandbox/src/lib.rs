//! stockade-sandbox: the box every agent runs in.
//!
//! A box is a cgroup (v2, or one per v1 hierarchy) with memory, cpu and pids
//! limits, plus rlimits and a process group. [`Sandbox::new`] detects the
//! backend (cgroup v2, cgroup v1, or none), prepares the walls (the init's
//! memfd, the seccomp filter, the id allocator) and starts the one spawner
//! thread; [`Sandbox::spawn`] creates a box and starts a program that joins
//! the box before exec; the returned [`Agent`] is waited on, watched for OOM
//! kills, sampled for usage, stopped (signal, grace, kill the whole box), and
//! finally [`Agent::finish`]ed, which reads the evidence, [`classify`]s the
//! death and removes the box.
//!
//! **Walls** ([`SpawnSpec::walls`], [`Walls`]): a walled box is also a
//! sandbox. The agent runs in its own user namespace (root inside maps to an
//! unprivileged host id slot of [`SandboxConfig::id_range`]), pid namespace
//! (a tiny init is pid 1; the agent is its child), mount namespace (the host
//! root or a `rootfs` read-only, cgroupfs and the risky parts of `/proc`
//! masked, private `/tmp`, `/dev`, `/run`, a writable `/workspace`, idmapped
//! `mounts`, `hide`), ipc and uts namespaces, and optionally a network
//! namespace with only loopback. It keeps Docker's default capabilities inside
//! the user namespace only, has `no_new_privs` and Docker's default seccomp
//! profile, and sees exactly the environment its spec gives. The init writes
//! the agent's exact status to an exit record (`<workspace>.exit`), which is
//! what [`Agent::wait`] returns, so classification is unchanged.
//! [`Sandbox::exec`] runs a command inside a running walled box.
//! `walls: None` is isolation "none": the agent runs on the host, as before.
//!
//! Start reading at `sandbox.rs`, then `spawn.rs` (the `pre_exec` join of an
//! unwalled box), `walls/mod.rs` (the walls, with their own reading order),
//! `agent.rs` (stop and finish) and `backend/mod.rs` (the two small traits
//! every backend implements). Kernel quirks are documented where they bite:
//! v1 OOM notification in `oom_watch.rs`, v1 killing in
//! `backend/v1/cgroup.rs`, fd limits in `rlimit.rs`, `setresuid` between
//! clone and exec in `walls/child.rs`.

#![deny(missing_docs)]

mod adopt;
mod agent;
mod backend;
mod classify;
mod config;
mod detect;
mod error;
mod limits;
mod main_proc;
mod name;
mod offload;
mod oom_watch;
mod relay;
mod rlimit;
mod sandbox;
mod spawn;
mod spawner;
mod wait_error;
mod walls;

pub use adopt::{AdoptError, AdoptSpec, Identity, START_WINDOW, boot_time_ms, start_time};
pub use agent::{Agent, AgentEvent, Death, StopOutcome};
pub use classify::{ClassifyInput, EndReason, classify};
pub use config::{BackendChoice, BackendKind, SandboxConfig};
pub use detect::{own_cgroup_dir, own_cgroup_dirs};
pub use error::{SandboxError, SpawnError};
pub use rlimit::raise_nofile_limit;
pub use sandbox::Sandbox;
pub use spawn::{EnvMode, Output, ParentDeath, SpawnSpec};
pub use wait_error::{WaitError, Waited};
pub use walls::{
    BindMount, BoxUser, ExecProcess, ExecSpec, IDS_PER_BOX, IdRange, Network, PtyMaster, Walls,
};
