//! Walls: the namespaces, mounts and filters that make a box a sandbox.
//! (Scaffold on the `seccomp` branch only; the `walls` branch owns this file.)

#[allow(dead_code)] // used by the walled spawn on the `walls` branch
pub(crate) mod seccomp;
