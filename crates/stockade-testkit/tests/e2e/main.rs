//! End-to-end tests: the real daemon in-process, real processes in real
//! cgroups, the real HTTP API on a real Unix socket.

mod api;
mod deps;
mod services;

/// Skip (with the reason printed) where boxes cannot be made.
#[macro_export]
macro_rules! need_boxes {
    () => {
        if !stockade_testkit::can_make_boxes() {
            eprintln!("skipped: needs root and a writable cgroup tree");
            return;
        }
    };
}
