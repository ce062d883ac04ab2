//! Real processes in real boxes on this host's cgroup tree (v1 here). Each
//! test makes its own parent cgroup (`stockade-test-<name>-<pid>`) and removes
//! it on drop; tests skip with a printed reason where there is no writable
//! cgroup tree or no root.

mod adopt;
mod deaths;
mod errors;
mod exec;
mod hostile;
mod lifecycle;
mod live_limits;
mod rootless;
mod support;
mod walls;
