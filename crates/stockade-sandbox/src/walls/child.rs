//! The child between `clone` and exec: everything here is async-signal-safe
//! (raw syscalls on data the parent prepared; no allocation, no locks — the
//! other threads of the daemon do not exist in this copy, and glibc's
//! `setresuid` & co would try to signal them, so the credential calls are raw
//! `syscall`s).
//!
//! Order (DESIGN §4a): join the box's cgroups first (before anything else
//! runs); stdio onto 0–2, the error pipe on 3 and the exit record on 4, the
//! fds it still needs kept close-on-exec and every other fd closed; a spawn waits on the sync pipe while the parent
//! writes the id maps, becomes root inside, builds the root
//! ([`super::plan`]), sets the hostname, brings `lo` up; an exec joins the
//! box's namespaces through its init's pidfd instead. Then both: rlimits,
//! cwd, `no_new_privs`, the bounding set cut to Docker's default, ambient
//! cleared, the box user, the kept capabilities, parent-death signal,
//! seccomp last, and exec of the init.

use std::ffi::{CString, c_char};
use std::os::fd::RawFd;

use super::plan::Op;
use super::sys::{self, Errno};
use crate::rlimit::RlimitPlan;

/// Where the child failed: reported to the parent as `[stage, index, errno]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Stage {
    Join = 1,
    Stdio,
    Sync,
    BecomeRoot,
    Root,
    Hostname,
    Loopback,
    Rlimits,
    Cwd,
    NoNewPrivs,
    Bounding,
    User,
    Caps,
    ParentDeath,
    Seccomp,
    Setns,
    Exec,
}

impl Stage {
    pub(crate) fn from_u32(n: u32) -> Option<Stage> {
        use Stage::*;
        [
            Join,
            Stdio,
            Sync,
            BecomeRoot,
            Root,
            Hostname,
            Loopback,
            Rlimits,
            Cwd,
            NoNewPrivs,
            Bounding,
            User,
            Caps,
            ParentDeath,
            Seccomp,
            Setns,
            Exec,
        ]
        .into_iter()
        .find(|s| *s as u32 == n)
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Stage::Join => "join the box's cgroups",
            Stage::Stdio => "set up stdio",
            Stage::Sync => "wait for the id maps",
            Stage::BecomeRoot => "become root in the box's user namespace",
            Stage::Root => "build the box's root",
            Stage::Hostname => "set the hostname",
            Stage::Loopback => "bring up loopback",
            Stage::Rlimits => "set the rlimits",
            Stage::Cwd => "enter the working directory",
            Stage::NoNewPrivs => "set no_new_privs",
            Stage::Bounding => "cut the capability bounding set",
            Stage::User => "switch to the box user",
            Stage::Caps => "set the capabilities",
            Stage::ParentDeath => "set the parent-death signal",
            Stage::Seccomp => "install the seccomp filter",
            Stage::Setns => "enter the box's namespaces",
            Stage::Exec => "exec the box init",
        }
    }
}

/// How the child gets its namespaces.
#[derive(Debug)]
pub(crate) enum Entry {
    /// A new box: the namespaces came with clone; build the root.
    Spawn { sync_read: RawFd, ops: Vec<Op>, hostname: CString, loopback: bool },
    /// `Sandbox::exec`: join the box through its init's pidfd.
    Join { pidfd: RawFd, flags: i32 },
}

/// Everything the child does, prepared in the parent. All fds are ≥ 16 so
/// moving them onto 0–4 never collides.
#[derive(Debug)]
pub(crate) struct ChildPlan {
    pub(crate) join: Vec<RawFd>,
    pub(crate) stdio: [RawFd; 3],
    pub(crate) err_write: RawFd,
    pub(crate) record: RawFd,
    pub(crate) entry: Entry,
    pub(crate) rlimits: RlimitPlan,
    pub(crate) cwd: CString,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Clear the supplementary groups; false in a box of a rootless daemon,
    /// whose user namespace has `setgroups` denied (the call would fail).
    pub(crate) setgroups: bool,
    /// Capabilities dropped from the bounding set.
    pub(crate) drop_caps: Vec<u32>,
    /// Capabilities kept (effective and permitted); 0 for a non-root user.
    pub(crate) keep_caps: u64,
    pub(crate) parent_death: bool,
    pub(crate) seccomp: Option<std::sync::Arc<super::Seccomp>>,
    pub(crate) init_fd: RawFd,
    pub(crate) argv: Vec<CString>,
    pub(crate) envp: Vec<CString>,
    pub(crate) argv_ptrs: Vec<*const c_char>,
    pub(crate) envp_ptrs: Vec<*const c_char>,
    /// The fds above 4 the child still needs after stdio is in place
    /// (sorted; filled by [`ChildPlan::seal`]).
    pub(crate) keep: Vec<RawFd>,
    /// `keep` plus the fds it needs until then: the first thing the child
    /// does is close every other fd the daemon had open, so a child orphaned
    /// mid-setup holds nothing of the daemon's, above all not the state lock.
    pub(crate) keep_first: Vec<RawFd>,
}

// SAFETY: the raw pointers point into the plan's own CStrings, which move with it.
unsafe impl Send for ChildPlan {}

impl ChildPlan {
    /// Fill the pointer arrays (call once, after the strings are final).
    pub(crate) fn seal(&mut self) {
        self.argv_ptrs = self.argv.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
        self.envp_ptrs = self.envp.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
        let mut keep = vec![self.init_fd];
        match &self.entry {
            Entry::Spawn { sync_read, ops, .. } => {
                keep.push(*sync_read);
                keep.extend(ops.iter().filter_map(Op::fd));
            }
            Entry::Join { pidfd, .. } => keep.push(*pidfd),
        }
        let mut first = keep.clone();
        first.extend(self.join.iter().chain(&self.stdio));
        first.extend([self.err_write, self.record]);
        for (list, above) in [(&mut keep, 4), (&mut first, 2)] {
            list.retain(|fd| *fd > above);
            list.sort_unstable();
            list.dedup();
        }
        self.keep = keep;
        self.keep_first = first;
    }
}

fn raw(ret: libc::c_long) -> Result<(), Errno> {
    if ret < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
    } else {
        Ok(())
    }
}

/// The child's whole life: never returns. On failure it writes
/// `[stage, index, errno]` to the error pipe and exits 127.
pub(crate) fn run(plan: &ChildPlan) -> ! {
    let Err((stage, index, errno)) = steps(plan);
    let mut msg = [0u8; 12];
    msg[..4].copy_from_slice(&(stage as u32).to_ne_bytes());
    msg[4..8].copy_from_slice(&index.to_ne_bytes());
    msg[8..].copy_from_slice(&errno.to_ne_bytes());
    let _ = sys::write_all(plan.err_write, &msg);
    // SAFETY: _exit ends the child without running any of the parent's code.
    unsafe { libc::_exit(127) }
}

type Failure = (Stage, u32, Errno);

fn at(stage: Stage) -> impl Fn(Errno) -> Failure {
    move |e| (stage, 0, e)
}

fn steps(plan: &ChildPlan) -> Result<std::convert::Infallible, Failure> {
    sys::close_all_but(3, &plan.keep_first).map_err(at(Stage::Join))?;
    for fd in &plan.join {
        sys::write_all(*fd, b"0").map_err(at(Stage::Join))?;
    }
    // Its own process group (the none backend's box is the group of this pid).
    // SAFETY: setpgid has no memory-safety preconditions.
    raw(unsafe { libc::setpgid(0, 0) } as libc::c_long).map_err(at(Stage::Join))?;
    for (i, fd) in plan.stdio.iter().enumerate() {
        sys::dup2(*fd, i as RawFd).map_err(at(Stage::Stdio))?;
    }
    sys::dup2(plan.err_write, 3).map_err(at(Stage::Stdio))?;
    sys::dup2(plan.record, 4).map_err(at(Stage::Stdio))?;
    sys::close_all_but(5, &plan.keep).map_err(at(Stage::Stdio))?;
    sys::cloexec_from(5).map_err(at(Stage::Stdio))?;
    match &plan.entry {
        Entry::Spawn { sync_read, ops, hostname, loopback } => {
            let mut byte = [0u8; 1];
            match sys::read_full(*sync_read, &mut byte) {
                Ok(1) => {}
                Ok(_) => return Err((Stage::Sync, 0, libc::EPIPE)),
                Err(e) => return Err((Stage::Sync, 0, e)),
            }
            // SAFETY: raw credential syscalls with integer arguments.
            unsafe {
                raw(libc::syscall(libc::SYS_setresgid, 0, 0, 0)).map_err(at(Stage::BecomeRoot))?;
                raw(libc::syscall(libc::SYS_setresuid, 0, 0, 0)).map_err(at(Stage::BecomeRoot))?;
            }
            for (i, op) in ops.iter().enumerate() {
                op.run().map_err(|e| (Stage::Root, i as u32, e))?;
            }
            let name = hostname.as_bytes();
            // SAFETY: the name is a live buffer of the given length.
            raw(unsafe { libc::syscall(libc::SYS_sethostname, name.as_ptr(), name.len()) })
                .map_err(at(Stage::Hostname))?;
            if *loopback {
                sys::loopback_up().map_err(at(Stage::Loopback))?;
            }
        }
        Entry::Join { pidfd, flags } => {
            sys::setns(*pidfd, *flags).map_err(at(Stage::Setns))?;
        }
    }
    plan.rlimits.apply().map_err(|e| (Stage::Rlimits, 0, e.raw_os_error().unwrap_or(libc::EIO)))?;
    sys::chdir(&plan.cwd).map_err(at(Stage::Cwd))?;
    sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(at(Stage::NoNewPrivs))?;
    for cap in &plan.drop_caps {
        match sys::prctl(libc::PR_CAPBSET_DROP, u64::from(*cap)) {
            Ok(()) | Err(libc::EINVAL) => {}
            Err(e) => return Err((Stage::Bounding, *cap, e)),
        }
    }
    // SAFETY: prctl with integer arguments only.
    raw(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0u64,
            0u64,
            0u64,
        )
    } as libc::c_long)
    .map_err(at(Stage::Bounding))?;
    // SAFETY: raw credential syscalls; a null group list with length 0.
    unsafe {
        if plan.setgroups {
            raw(libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()))
                .map_err(at(Stage::User))?;
        }
        raw(libc::syscall(libc::SYS_setresgid, plan.gid, plan.gid, plan.gid))
            .map_err(at(Stage::User))?;
        raw(libc::syscall(libc::SYS_setresuid, plan.uid, plan.uid, plan.uid))
            .map_err(at(Stage::User))?;
    }
    sys::capset(plan.keep_caps).map_err(at(Stage::Caps))?;
    if plan.parent_death {
        sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as u64).map_err(at(Stage::ParentDeath))?;
    }
    // The seccomp filter goes on last, just before the exec of the init.
    if let Some(filter) = &plan.seccomp {
        super::install_seccomp(filter).map_err(at(Stage::Seccomp))?;
    }
    // SAFETY: the arrays were built by `seal` from strings the plan owns.
    let errno =
        unsafe { sys::execveat_fd(plan.init_fd, plan.argv_ptrs.as_ptr(), plan.envp_ptrs.as_ptr()) };
    Err((Stage::Exec, 0, errno))
}
