//! stockade's one home for what Linux says and how stockade says it back:
//! each concept written once, used by the box, the host probes, the engine,
//! the daemon and the CLI alike. A leaf crate: it depends on nothing of ours.
//!
//! - [`mountinfo`]: `/proc/<pid>/mountinfo` lines, escapes decoded.
//! - [`proc_cgroup`]: `/proc/<pid>/cgroup` lines, and which mount each is in.
//! - [`proc`]: `/proc/<pid>/stat`, `/proc/<pid>/status`, `/proc/stat`'s boot
//!   time, `/proc/loadavg`'s task count, clock ticks.
//! - [`signal`]: a typed [`Signal`], name ⇄ number, one table.
//! - [`size`]: [`human_bytes`], bytes for humans.
//! - [`cpu`]: cpu % from two samples of a microsecond counter.
//! - [`eagain`]: which limit refused a new task when the kernel said EAGAIN.

pub mod cpu;
pub mod eagain;
pub mod mountinfo;
pub mod proc;
pub mod proc_cgroup;
pub mod signal;
pub mod size;

pub use cpu::CpuSample;
pub use eagain::{TaskFacts, TaskLimit, Use};
pub use mountinfo::Mount;
pub use proc_cgroup::CgroupEntry;
pub use signal::{Signal, UnknownSignal};
pub use size::human_bytes;
