//! The seccomp filter every walled box runs under: Docker's default profile,
//! compiled once for the native architecture and installed just before exec.
//!
//! # The profile
//!
//! Docker's `default.json` is an allowlist (about 350 names) whose default
//! action is `EPERM`. On a given kernel that is the same as denying its
//! complement, and that complement is what this file lists: every syscall of
//! the native table that Docker refuses to a container with the default
//! capabilities, plus the io_uring calls Docker 25 stopped allowing and a few
//! the issue asks for on top (`name_to_handle_at`, `adjtimex`, `clock_adjtime`).
//! A denylist is used because the boxes run the host's own binaries, which are
//! as new as the host: an allowlist written today refuses with `EPERM` the
//! next syscall glibc starts using (the `faccessat2` and `clone3` breakages of
//! Docker 19/20 containers), and glibc treats `EPERM` as a real failure where
//! it would fall back on `ENOSYS`. The allowlist's one advantage — a syscall
//! added to the kernel after the list was written is refused — is kept by a
//! range check: any number above [`REVIEWED_UP_TO`] (the last syscall reviewed
//! for this file, `file_setattr` of Linux 6.17) gets `ENOSYS`, which is what a
//! kernel without that syscall would say, so libc falls back.
//!
//! Refused with `EPERM`: the mount API (`mount`, `umount2`, `pivot_root`,
//! `move_mount`, `open_tree`, `open_tree_attr`, `fs*`, `mount_setattr`), new
//! namespaces (`unshare`, `setns`, `clone` with any `CLONE_NEW*` flag), kernel
//! code and images (`kexec_*`, `*init_module`, `delete_module`, `bpf`,
//! `perf_event_open`), keyrings (`keyctl`, `add_key`, `request_key`),
//! `userfaultfd` and io_uring (the two favourite kernel-exploit primitives),
//! handles that bypass path permissions (`open_by_handle_at`,
//! `name_to_handle_at`), host-wide state (clocks, swap, reboot, `syslog`,
//! `acct`, quotas, NUMA policy of other processes, host and domain name),
//! raw port I/O (`iopl`, `ioperm`), obsolete calls (`uselib`, `ustat`,
//! `sysfs`, `nfsservctl`, ...), `personality` with anything but the values
//! Docker allows (0, `PER_LINUX32`, `UNAME26` and their mix, and the
//! 0xffffffff query), `socket(AF_VSOCK)` (on a VM host the vsock is the
//! hypervisor's control channel) and the terminal-injection ioctls `TIOCSTI`
//! and `TIOCLINUX` (as flatpak does; compared on the low 32 bits, which is what
//! the kernel reads, so high garbage bits cannot slip past — CVE-2019-10063).
//! `clone3` gets `ENOSYS` instead: its flags live in memory seccomp cannot
//! read, and on `ENOSYS` glibc falls back to `clone`, whose flags are checked.
//!
//! Allowed on purpose, as Docker does on kernels ≥ 4.8: `ptrace`,
//! `process_vm_readv` and `process_vm_writev`. Since 4.8 a tracer can no
//! longer use ptrace to skip the tracee's seccomp check, and the box's own pid
//! namespace and user namespace leave nothing outside the box to attach to.
//! `chroot` is allowed (Docker grants `CAP_SYS_CHROOT` by default and it only
//! acts in the box's own mount namespace).
//! The syscalls of Linux 6.5–6.17 up to [`REVIEWED_UP_TO`] were reviewed one
//! by one and are allowed except `open_tree_attr` (the mount API): they act on
//! the caller's own files, memory, futexes, LSM attributes or mount namespace
//! under the usual permission checks (`cachestat`, `fchmodat2`,
//! `map_shadow_stack`, `futex_wake`/`wait`/`requeue`, `statmount`,
//! `listmount`, `lsm_*`, `mseal`, `*xattrat`, `file_getattr`/`file_setattr`).
//! Stricter than Docker: `name_to_handle_at`, `adjtimex`, `clock_adjtime`,
//! io_uring, `TIOCSTI`/`TIOCLINUX`, and `ENOSYS` for anything newer.
//!
//! # Other architectures
//!
//! The first instructions check `seccomp_data.arch`: a syscall made through
//! another ABI (i386 via `int 0x80` on x86_64, AArch32 on arm64) kills the
//! process. x32 shares x86_64's audit arch and is told apart only by bit 30 of
//! the syscall number, so a second check kills any number with that bit set.
//!
//! # How it is built
//!
//! The argument rules (`clone`, `personality`, `socket`, `ioctl`: conditions,
//! masks, jump offsets) come from the pure-Rust `seccompiler` crate
//! (rust-vmm), which also emits the arch check. It cannot express a *range*
//! of syscall numbers nor more than one refusal errno per program, and it
//! tests its rules one after the other, five instructions per argument-less
//! rule. So a hand-written block (a tiny forward-only assembler, below) is
//! spliced in right after its arch check: `nr == -1 → ENOSYS` (a tracer's
//! "skip"), x32 bit → kill, `nr > REVIEWED_UP_TO → ENOSYS`, `clone3 →
//! ENOSYS`, then a binary search over the syscall numbers that have a rule:
//! outright refusals → `EPERM`, the four with argument rules → seccompiler's
//! part, everything else → `ALLOW` in about 15 instructions. Path length is
//! what an install costs: the kernel runs the program for every syscall
//! number when it is installed (`seccomp_cache_prepare`), i.e. on every
//! spawn. Measured here in fresh children on a loaded 2-core host:
//! seccompiler alone 441 instructions, ~0.3 ms per install; this program 217
//! instructions, ~0.1 ms, of which ~0.03 ms is what even a one-instruction
//! filter costs. The splice point is verified, so a change in seccompiler's
//! layout is an error at [`SeccompFilter::default_profile`], not a silently
//! wrong filter.
//!
//! [`SeccompFilter::install`] runs between fork and exec: it builds a
//! `sock_fprog` on the stack over the prebuilt program and makes one raw
//! `seccomp(2)` call — no allocation, async-signal-safe. The caller has set
//! `no_new_privs` first (without it, or `CAP_SYS_ADMIN`, the kernel refuses).

use std::collections::BTreeMap;

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule, TargetArch,
};

/// The highest syscall number reviewed for this profile (`file_setattr`,
/// Linux 6.17; numbers ≥ 424 are shared by every architecture). Anything above
/// is a syscall this file has not judged: refused with `ENOSYS`.
const REVIEWED_UP_TO: u32 = 469;

/// `open_tree_attr` (Linux 6.15), not yet in the `libc` crate; same number on
/// every architecture.
const SYS_OPEN_TREE_ATTR: i64 = 467;

/// x32 syscalls are the x86_64 audit arch with this bit set in the number.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The `CLONE_NEW*` flags `clone(2)` accepts (`CLONE_NEWTIME` only exists
/// for `unshare`/`clone3`: in `clone` that bit is the exit signal).
const CLONE_NEW_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// The `personality(2)` values Docker allows: `PER_LINUX`, `PER_LINUX32`,
/// `UNAME26`, `UNAME26 | PER_LINUX32`, and the 0xffffffff query.
const PERSONALITY_ALLOWED: [u64; 5] = [0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// Syscalls refused outright, present on every supported architecture.
const DENIED_COMMON: &[(&str, i64)] = &[
    // the mount API and namespaces
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("open_tree_attr", SYS_OPEN_TREE_ATTR),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    // kernel code, images and introspection
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    ("syslog", libc::SYS_syslog),
    // keyrings are not namespaced
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    // exploit primitives
    ("userfaultfd", libc::SYS_userfaultfd),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    // file handles bypass path permission checks
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("fanotify_init", libc::SYS_fanotify_init),
    // host-wide state
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("quotactl", libc::SYS_quotactl),
    ("quotactl_fd", libc::SYS_quotactl_fd),
    ("sethostname", libc::SYS_sethostname),
    ("setdomainname", libc::SYS_setdomainname),
    ("vhangup", libc::SYS_vhangup),
    ("nfsservctl", libc::SYS_nfsservctl),
    // NUMA placement, other processes' memory and descriptors
    ("mbind", libc::SYS_mbind),
    ("set_mempolicy", libc::SYS_set_mempolicy),
    ("get_mempolicy", libc::SYS_get_mempolicy),
    ("set_mempolicy_home_node", libc::SYS_set_mempolicy_home_node),
    ("migrate_pages", libc::SYS_migrate_pages),
    ("move_pages", libc::SYS_move_pages),
    ("kcmp", libc::SYS_kcmp),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("process_madvise", libc::SYS_process_madvise),
];

/// Syscalls refused outright that only the x86_64 table has.
#[cfg(target_arch = "x86_64")]
const DENIED_ARCH: &[(&str, i64)] = &[
    ("iopl", libc::SYS_iopl),
    ("ioperm", libc::SYS_ioperm),
    ("uselib", libc::SYS_uselib),
    ("ustat", libc::SYS_ustat),
    ("sysfs", libc::SYS_sysfs),
    ("_sysctl", libc::SYS__sysctl),
    ("create_module", 174),
    ("get_kernel_syms", 177),
    ("query_module", 178),
    ("getpmsg", libc::SYS_getpmsg),
    ("putpmsg", libc::SYS_putpmsg),
    ("afs_syscall", libc::SYS_afs_syscall),
    ("tuxcall", libc::SYS_tuxcall),
    ("security", libc::SYS_security),
    ("vserver", libc::SYS_vserver),
];

/// arm64 has none of x86_64's legacy calls.
#[cfg(target_arch = "aarch64")]
const DENIED_ARCH: &[(&str, i64)] = &[];

/// Calls refused only for some arguments, or with `ENOSYS`; listed by
/// [`SeccompFilter::denied`] after the outright refusals.
const DENIED_CONDITIONAL: &[&str] = &[
    "clone(CLONE_NEW*)",
    "clone3(ENOSYS)",
    "personality(other than 0, 0x8, 0x20000, 0x20008, 0xffffffff)",
    "socket(AF_VSOCK)",
    "ioctl(TIOCSTI, TIOCLINUX)",
    "x32 and foreign-ABI syscalls (process killed)",
    "syscalls newer than file_setattr (ENOSYS)",
];

/// Docker's default seccomp profile, compiled to a BPF program for this
/// architecture (see the module docs for what it refuses and why).
pub(crate) struct SeccompFilter {
    /// The program handed to the kernel; never empty, at most `BPF_MAXINSNS`.
    program: Box<[libc::sock_filter]>,
}

/// The seccomp profile could not be compiled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SeccompError {
    /// The build target has no syscall table in this file.
    #[error(
        "no seccomp profile for architecture `{arch}`: stockade's filter covers x86_64 and aarch64; run boxes with `isolation = \"none\"` on this host"
    )]
    UnsupportedArch {
        /// `std::env::consts::ARCH`.
        arch: &'static str,
    },
    /// seccompiler rejected a rule of the table.
    #[error(
        "cannot compile the seccomp profile: {source}; this is a bug in stockade's rule table, please report it"
    )]
    Compile {
        /// seccompiler's error.
        #[source]
        source: seccompiler::BackendError,
    },
    /// seccompiler's output no longer starts with the arch check this file
    /// splices after, or the hand-written block outgrew its jumps.
    #[error(
        "the seccomp program cannot be assembled ({what}); seccompiler's output or the rule table changed: pin seccompiler to the version in Cargo.toml and report it"
    )]
    Layout {
        /// What did not fit.
        what: &'static str,
    },
}

impl SeccompFilter {
    /// Docker's default profile, compiled once at Sandbox::new for the native arch.
    pub(crate) fn default_profile() -> Result<SeccompFilter, SeccompError> {
        let arch = target_arch()?;
        let body = seccompiler::SeccompFilter::new(
            rules()?,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )
        .map_err(|source| SeccompError::Compile { source })?;
        let compiled: seccompiler::BpfProgram =
            body.try_into().map_err(|source| SeccompError::Compile { source })?;
        let program = splice_prefix(&compiled)?;
        Ok(SeccompFilter { program: program.into_boxed_slice() })
    }

    /// Installs the filter on the calling thread/process. Async-signal-safe:
    /// raw prctl/seccomp syscall over memory prepared beforehand, no
    /// allocation. Called after no_new_privs, just before exec.
    pub(crate) fn install(&self) -> Result<(), rustix::io::Errno> {
        let prog = libc::sock_fprog {
            // `default_profile` keeps the program at most BPF_MAXINSNS (4096) long.
            len: self.program.len() as u16,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `self.program`, which outlives the call; the
        // kernel copies the program and keeps no reference to our memory.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0 as libc::c_uint,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            // `last_os_error` only reads errno: no allocation.
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL);
            Err(rustix::io::Errno::from_raw_os_error(errno))
        }
    }

    /// The syscalls the filter refuses, for doctor/docs: first every name
    /// refused outright with `EPERM`, then the conditional refusals written as
    /// `name(condition)`.
    pub(crate) fn denied() -> &'static [&'static str] {
        static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| {
            DENIED_COMMON
                .iter()
                .chain(DENIED_ARCH)
                .map(|(name, _)| *name)
                .chain(DENIED_CONDITIONAL.iter().copied())
                .collect()
        })
    }

    /// The number of BPF instructions, for the benchmark and tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.program.len()
    }
}

/// seccompiler's name for the architecture this binary was built for.
fn target_arch() -> Result<TargetArch, SeccompError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(TargetArch::x86_64),
        "aarch64" => Ok(TargetArch::aarch64),
        arch => Err(SeccompError::UnsupportedArch { arch }),
    }
}

/// The syscalls [`rules`] has argument rules for.
const ARGUMENT_RULES: [i64; 4] =
    [libc::SYS_clone, libc::SYS_personality, libc::SYS_socket, libc::SYS_ioctl];

/// The refusals by argument, for `clone`, `personality`, `socket` and
/// `ioctl` (the outright ones are in the hand-written block). Arguments are
/// compared on their low 32 bits (`Dword`) because that is all the kernel
/// reads of each of them.
fn rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, SeccompError> {
    let compile = |source| SeccompError::Compile { source };
    let cond = |arg: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(compile)
    };
    let rule = |conds: Vec<SeccompCondition>| SeccompRule::new(conds).map_err(compile);

    let mut rules = BTreeMap::new();

    // clone(flags, ...): flags is argument 0 on x86_64 and arm64 alike.
    let clone = CLONE_NEW_FLAGS
        .iter()
        .map(|&flag| rule(vec![cond(0, SeccompCmpOp::MaskedEq(flag), flag)?]))
        .collect::<Result<_, _>>()?;
    rules.insert(libc::SYS_clone, clone);

    let not_allowed = PERSONALITY_ALLOWED
        .iter()
        .map(|&value| cond(0, SeccompCmpOp::Ne, value))
        .collect::<Result<_, _>>()?;
    rules.insert(libc::SYS_personality, vec![rule(not_allowed)?]);

    rules.insert(
        libc::SYS_socket,
        vec![rule(vec![cond(0, SeccompCmpOp::Eq, libc::AF_VSOCK as u64)?])?],
    );

    rules.insert(
        libc::SYS_ioctl,
        vec![
            rule(vec![cond(1, SeccompCmpOp::Eq, libc::TIOCSTI)?])?,
            rule(vec![cond(1, SeccompCmpOp::Eq, libc::TIOCLINUX)?])?,
        ],
    );
    Ok(rules)
}

// Classic BPF opcodes (linux/bpf_common.h) for the hand-written block.
/// `BPF_LD | BPF_W | BPF_ABS` (0x00 | 0x00 | 0x20).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JGT_K: u16 = 0x05 | 0x20;
#[cfg(target_arch = "x86_64")]
const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
const BPF_RET_K: u16 = 0x06;
/// `offsetof(struct seccomp_data, nr)` and `.arch`.
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
/// The kernel's limit on a classic BPF program (`BPF_MAXINSNS`).
const BPF_MAXINSNS: usize = 4096;

/// A place in the hand-written block a jump can land on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Label(usize);

/// `ret ENOSYS`, `ret KILL_PROCESS`, `ret EPERM`, `ret ALLOW` and the start
/// of seccompiler's argument rules: the block's five exits.
const ENOSYS: Label = Label(0);
const KILL: Label = Label(1);
const EPERM: Label = Label(2);
const ALLOW: Label = Label(3);
const RULES: Label = Label(4);

/// Syscalls per leaf of the search tree (compared one by one).
const LEAF: usize = 4;

/// One instruction of the block: conditional jumps go to a label when the
/// test holds and fall through otherwise.
enum Item {
    Stmt(libc::sock_filter),
    Jump { code: u16, k: u32, to: Label },
    Always(Label),
}

/// A tiny forward-only assembler: emit, bind labels, resolve offsets.
struct Block {
    items: Vec<Item>,
    labels: Vec<Option<usize>>,
}

impl Block {
    fn new() -> Block {
        Block { items: Vec::new(), labels: vec![None; 5] }
    }

    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.items.len());
    }

    fn jump(&mut self, code: u16, k: u32, to: Label) {
        self.items.push(Item::Jump { code, k, to });
    }

    /// Jumps to each syscall's label in `by_nr` (sorted by number, unique),
    /// and to `ALLOW` for any other: a binary search, so every syscall passes
    /// about log2(n/LEAF) + LEAF tests instead of n.
    fn search(&mut self, by_nr: &[(u32, Label)]) {
        if by_nr.len() <= LEAF {
            for &(nr, to) in by_nr {
                self.jump(BPF_JMP_JEQ_K, nr, to);
            }
            self.items.push(Item::Always(ALLOW));
            return;
        }
        let (low, high) = by_nr.split_at(by_nr.len() / 2);
        let upper = self.label();
        self.jump(BPF_JMP_JGT_K, low[low.len() - 1].0, upper);
        self.search(low);
        self.bind(upper);
        self.search(high);
    }

    /// The instructions, with the exits appended (`RULES` is whatever
    /// follows the block).
    fn finish(mut self) -> Result<Vec<libc::sock_filter>, SeccompError> {
        let errno = |e: i32| libc::SECCOMP_RET_ERRNO | e as u32;
        for (label, action) in [
            (ENOSYS, errno(libc::ENOSYS)),
            (KILL, libc::SECCOMP_RET_KILL_PROCESS),
            (EPERM, errno(libc::EPERM)),
            (ALLOW, libc::SECCOMP_RET_ALLOW),
        ] {
            self.bind(label);
            self.items.push(Item::Stmt(insn(BPF_RET_K, 0, 0, action)));
        }
        self.bind(RULES);
        let target = |label: Label, at: usize| -> Result<usize, SeccompError> {
            let to = self.labels[label.0].ok_or(SeccompError::Layout { what: "unbound label" })?;
            to.checked_sub(at + 1).ok_or(SeccompError::Layout { what: "backward jump" })
        };
        let mut out = Vec::with_capacity(self.items.len());
        for (at, item) in self.items.iter().enumerate() {
            out.push(match *item {
                Item::Stmt(i) => i,
                Item::Jump { code, k, to } => {
                    let jt = u8::try_from(target(to, at)?)
                        .map_err(|_| SeccompError::Layout { what: "jump longer than 255" })?;
                    insn(code, jt, 0, k)
                }
                Item::Always(to) => insn(BPF_JMP_JA, 0, 0, target(to, at)? as u32),
            });
        }
        Ok(out)
    }
}

/// The hand-written block: `ld nr`; the ABI and range checks; then a binary
/// search over the syscalls with a rule — outright refusals go to `EPERM`,
/// the four with argument rules on to seccompiler's part, all others to
/// `ALLOW` without passing through it.
fn block() -> Result<Vec<libc::sock_filter>, SeccompError> {
    let mut b = Block::new();
    b.items.push(Item::Stmt(insn(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR)));
    // A tracer "skips" a syscall by setting its number to -1.
    b.jump(BPF_JMP_JEQ_K, u32::MAX, ENOSYS);
    #[cfg(target_arch = "x86_64")]
    b.jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, KILL);
    b.jump(BPF_JMP_JGT_K, REVIEWED_UP_TO, ENOSYS);
    b.jump(BPF_JMP_JEQ_K, libc::SYS_clone3 as u32, ENOSYS);
    let refused = DENIED_COMMON.iter().chain(DENIED_ARCH).map(|&(_, nr)| (nr as u32, EPERM));
    let by_args = ARGUMENT_RULES.iter().map(|&nr| (nr as u32, RULES));
    let mut by_nr: Vec<(u32, Label)> = refused.chain(by_args).collect();
    by_nr.sort_unstable_by_key(|&(nr, _)| nr);
    by_nr.dedup_by_key(|&mut (nr, _)| nr);
    b.search(&by_nr);
    b.finish()
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// seccompiler's program with the hand-written [`block`] inserted after its
/// three-instruction arch check (`ld arch; jeq AUDIT_ARCH, +1; ret KILL`).
///
/// Every jump of the block is forward and lands inside it or on its end,
/// where seccompiler's argument rules start (they load `nr` themselves), so
/// no offset in seccompiler's part changes.
///
/// Why by hand, and why a search tree: see "How it is built" in the module
/// docs; the timing test prints today's install cost.
fn splice_prefix(
    compiled: &[seccompiler::sock_filter],
) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let head = compiled.get(..3).ok_or(SeccompError::Layout { what: "program too short" })?;
    if head[0].code != BPF_LD_W_ABS || head[0].k != SECCOMP_DATA_ARCH {
        return Err(SeccompError::Layout { what: "first instruction is not `ld arch`" });
    }
    if head[1].code != BPF_JMP_JEQ_K || head[1].jt != 1 || head[1].jf != 0 {
        return Err(SeccompError::Layout { what: "second instruction is not `jeq arch, +1`" });
    }
    if head[2].code != BPF_RET_K || head[2].k != libc::SECCOMP_RET_KILL_PROCESS {
        return Err(SeccompError::Layout { what: "third instruction is not `ret kill_process`" });
    }
    let copy = |i: &seccompiler::sock_filter| insn(i.code, i.jt, i.jf, i.k);
    let block = block()?;
    let mut program = Vec::with_capacity(compiled.len() + block.len());
    program.extend(head.iter().map(copy));
    program.extend(block);
    program.extend(compiled[3..].iter().map(copy));
    if program.len() > BPF_MAXINSNS {
        return Err(SeccompError::Compile {
            source: seccompiler::BackendError::FilterTooLarge(program.len()),
        });
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    //! Real children under the real filter: `std::process::Command` with a
    //! `pre_exec` that sets `no_new_privs` and installs the filter (no
    //! namespaces), probing syscalls by number from python's ctypes so no
    //! C compiler is needed. Every probe uses arguments that are invalid
    //! (-1 pointers, fds and flags), so even without the filter nothing on
    //! the host changes; the child also calls `setsid` first so `vhangup`
    //! has no terminal to hang up.

    use std::io::Read;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Command, Output, Stdio};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use super::*;

    fn filter() -> &'static SeccompFilter {
        static FILTER: OnceLock<SeccompFilter> = OnceLock::new();
        FILTER.get_or_init(|| SeccompFilter::default_profile().expect("profile compiles"))
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Walls {
        Filtered,
        Bare,
    }

    /// Runs `program args` in a fresh session, with the filter if asked.
    fn run(walls: Walls, program: &str, args: &[String]) -> Output {
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null());
        let f = filter();
        // SAFETY: the hook makes raw syscalls only (setsid, prctl, seccomp).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if walls == Walls::Filtered {
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    f.install().map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))?;
                }
                Ok(())
            });
        }
        cmd.output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }

    fn sh(walls: Walls, script: &str) -> Output {
        run(walls, "sh", &["-c".into(), script.into()])
    }

    fn python(walls: Walls, script: &str, args: &[String]) -> Output {
        let mut argv = vec!["-c".to_string(), script.to_string()];
        argv.extend_from_slice(args);
        run(walls, "python3", &argv)
    }

    fn stdout(out: &Output) -> String {
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Calls each `name,nr,arg...` of argv and prints `name errno` (0 on success).
    const PROBE: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for spec in sys.argv[1:]:
    name, nr, *args = spec.split(",")
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(int(nr)), *[ctypes.c_long(int(a)) for a in args])
    if name.startswith("clone") and r == 0:
        os._exit(0)
    if name.startswith("clone") and r > 0:
        os.waitpid(r, 0)
    print(name, 0 if r >= 0 else ctypes.get_errno(), flush=True)
"#;

    /// What a probe must answer under the filter.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Errno(i32),
        /// The kernel's own answer: anything but the filter's EPERM or ENOSYS.
        Allowed,
    }

    struct Probe {
        name: String,
        nr: i64,
        args: Vec<i64>,
        expect: Expect,
    }

    fn probe(name: &str, nr: i64, args: &[i64], expect: Expect) -> Probe {
        Probe { name: name.into(), nr, args: args.to_vec(), expect }
    }

    /// Runs the probes in one python and returns `(name, errno)` in order.
    fn run_probes(walls: Walls, probes: &[Probe]) -> Vec<(String, i32)> {
        let specs: Vec<String> = probes
            .iter()
            .map(|p| {
                let mut s = format!("{},{}", p.name, p.nr);
                for a in &p.args {
                    s.push_str(&format!(",{a}"));
                }
                s
            })
            .collect();
        let out = python(walls, PROBE, &specs);
        assert!(out.status.success(), "probe failed: {out:?}");
        stdout(&out)
            .lines()
            .map(|l| {
                let (name, errno) = l.split_once(' ').expect("`name errno`");
                (name.to_string(), errno.parse().expect("errno"))
            })
            .collect()
    }

    fn check(probes: &[Probe]) {
        let got = run_probes(Walls::Filtered, probes);
        assert_eq!(got.len(), probes.len(), "one answer per probe: {got:?}");
        let wrong: Vec<String> = probes
            .iter()
            .zip(&got)
            .filter(|(p, (_, errno))| match p.expect {
                Expect::Errno(e) => *errno != e,
                Expect::Allowed => *errno == libc::EPERM || *errno == libc::ENOSYS,
            })
            .map(|(p, (_, errno))| format!("{}: got errno {errno}, want {:?}", p.name, p.expect))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_profile_compiles_with_the_arch_check_and_the_prefix_first() {
        let f = filter();
        assert!(f.len() > DENIED_COMMON.len() && f.len() < BPF_MAXINSNS, "{} insns", f.len());
        assert_eq!(f.program[0].k, SECCOMP_DATA_ARCH, "arch is checked first");
        assert_eq!(f.program[3].k, SECCOMP_DATA_NR, "then the number is loaded");
        let again = SeccompFilter::default_profile().unwrap();
        let same = f
            .program
            .iter()
            .zip(again.program.iter())
            .all(|(a, b)| (a.code, a.jt, a.jf, a.k) == (b.code, b.jt, b.jf, b.k));
        assert!(same && f.len() == again.len(), "compilation is deterministic");
    }

    #[test]
    fn the_search_tree_sends_exactly_the_ruled_syscalls_to_seccompiler() {
        let mut ruled: Vec<i64> = rules().unwrap().into_keys().collect();
        let mut listed = ARGUMENT_RULES.to_vec();
        ruled.sort_unstable();
        listed.sort_unstable();
        assert_eq!(ruled, listed);
        let refused = DENIED_COMMON.iter().chain(DENIED_ARCH).map(|&(_, nr)| nr);
        assert!(refused.clone().all(|nr| !listed.contains(&nr)), "no syscall is in both");
        let mut unique: Vec<i64> = refused.collect();
        let n = unique.len();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), n, "no syscall is listed twice");
    }

    /// Runs the program over one `struct seccomp_data` (little-endian, as on
    /// both supported architectures): the classic-BPF subset the filter uses.
    fn emulate(program: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&nr.to_le_bytes());
        data.extend_from_slice(&arch.to_le_bytes());
        data.extend_from_slice(&0u64.to_le_bytes());
        for a in args {
            data.extend_from_slice(&a.to_le_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let i = program[pc];
            pc += 1;
            let jump = |taken: bool| if taken { i.jt as usize } else { i.jf as usize };
            match i.code {
                BPF_LD_W_ABS => {
                    let at = i.k as usize;
                    acc = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
                }
                0x54 => acc &= i.k, // BPF_ALU | BPF_AND | BPF_K
                BPF_JMP_JA => pc += i.k as usize,
                BPF_JMP_JEQ_K => pc += jump(acc == i.k),
                BPF_JMP_JGT_K => pc += jump(acc > i.k),
                0x35 => pc += jump(acc >= i.k), // BPF_JMP | BPF_JGE | BPF_K
                BPF_RET_K => return i.k,
                code => panic!("instruction {code:#x} at {} is not emulated", pc - 1),
            }
        }
    }

    #[test]
    fn every_syscall_number_gets_the_verdict_of_the_tables() {
        let program = &filter().program;
        let native = match std::env::consts::ARCH {
            "x86_64" => 62 | 0x8000_0000 | 0x4000_0000,
            _ => 183 | 0x8000_0000 | 0x4000_0000,
        };
        let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        let run = |nr: u32, args: [u64; 6]| emulate(program, native, nr, args);
        let refused: Vec<u32> =
            DENIED_COMMON.iter().chain(DENIED_ARCH).map(|&(_, nr)| nr as u32).collect();
        for nr in 0..=REVIEWED_UP_TO + 100 {
            let want = if nr == libc::SYS_clone3 as u32 || nr > REVIEWED_UP_TO {
                enosys
            } else if refused.contains(&nr) {
                eperm
            } else {
                libc::SECCOMP_RET_ALLOW
            };
            assert_eq!(run(nr, [0; 6]), want, "syscall {nr} with zero arguments");
        }
        assert_eq!(run(u32::MAX, [0; 6]), enosys, "a tracer's skip");
        #[cfg(target_arch = "x86_64")]
        for nr in [0x4000_0000, 0x4000_0000 | 39, 0x4000_0000 | 528, 0x7fff_ffff] {
            assert_eq!(run(nr, [0; 6]), libc::SECCOMP_RET_KILL_PROCESS, "x32 {nr:#x}");
        }
        let i386 = 3 | 0x4000_0000;
        assert_eq!(emulate(program, i386, 20, [0; 6]), libc::SECCOMP_RET_KILL_PROCESS);

        let clone = libc::SYS_clone as u32;
        let sigchld = libc::SIGCHLD as u64;
        for flag in CLONE_NEW_FLAGS {
            assert_eq!(run(clone, [flag | sigchld, 0, 0, 0, 0, 0]), eperm, "clone {flag:#x}");
        }
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        assert_eq!(run(clone, [thread, 0, 0, 0, 0, 0]), libc::SECCOMP_RET_ALLOW);
        let personality = libc::SYS_personality as u32;
        for value in PERSONALITY_ALLOWED {
            assert_eq!(run(personality, [value, 0, 0, 0, 0, 0]), libc::SECCOMP_RET_ALLOW);
        }
        assert_eq!(run(personality, [0x0040000, 0, 0, 0, 0, 0]), eperm, "ADDR_NO_RANDOMIZE");
        let ioctl = libc::SYS_ioctl as u32;
        for request in [libc::TIOCSTI, libc::TIOCLINUX, libc::TIOCSTI | 0xffff_0000_0000] {
            assert_eq!(run(ioctl, [1, request, 0, 0, 0, 0]), eperm, "ioctl {request:#x}");
        }
        assert_eq!(run(ioctl, [1, libc::TIOCGWINSZ, 0, 0, 0, 0]), libc::SECCOMP_RET_ALLOW);
        let socket = libc::SYS_socket as u32;
        assert_eq!(run(socket, [libc::AF_VSOCK as u64, 1, 0, 0, 0, 0]), eperm);
        assert_eq!(run(socket, [libc::AF_INET as u64, 1, 0, 0, 0, 0]), libc::SECCOMP_RET_ALLOW);
    }

    #[test]
    fn denied_names_cover_the_dangerous_set() {
        let denied = SeccompFilter::denied();
        let required = [
            "mount",
            "umount2",
            "pivot_root",
            "move_mount",
            "open_tree",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "mount_setattr",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "bpf",
            "keyctl",
            "add_key",
            "request_key",
            "unshare",
            "setns",
            "perf_event_open",
            "open_by_handle_at",
            "name_to_handle_at",
            "swapon",
            "swapoff",
            "reboot",
            "syslog",
            "acct",
            "settimeofday",
            "clock_settime",
            "clock_adjtime",
            "adjtimex",
            "quotactl",
            "nfsservctl",
            "userfaultfd",
            "vhangup",
            "lookup_dcookie",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
        ];
        for name in required {
            assert!(denied.contains(&name), "{name} is not refused");
        }
        #[cfg(target_arch = "x86_64")]
        for name in ["iopl", "ioperm", "uselib"] {
            assert!(denied.contains(&name), "{name} is not refused");
        }
        for allowed in ["ptrace", "process_vm_readv", "process_vm_writev", "chroot"] {
            assert!(!denied.contains(&allowed), "{allowed} must stay allowed");
        }
        assert!(denied.iter().any(|d| d.starts_with("clone(")));
        assert!(denied.iter().any(|d| d.starts_with("clone3(")));
    }

    #[test]
    fn every_denied_syscall_gets_eperm_in_a_filtered_child() {
        let probes: Vec<Probe> = DENIED_COMMON
            .iter()
            .chain(DENIED_ARCH)
            .map(|&(name, nr)| probe(name, nr, &[-1; 6], Expect::Errno(libc::EPERM)))
            .collect();
        check(&probes);
        // The probe itself tells the kernel's answer from the filter's.
        let bare =
            run_probes(Walls::Bare, &[probe("mount", libc::SYS_mount, &[-1; 5], Expect::Allowed)]);
        assert_ne!(
            bare[0].1,
            libc::EPERM,
            "unfiltered, mount(-1...) is refused by the kernel, not with EPERM"
        );
    }

    #[test]
    fn arguments_decide_for_clone_personality_socket_and_ioctl() {
        let sigchld = libc::SIGCHLD as i64;
        let mut probes = Vec::new();
        for flag in CLONE_NEW_FLAGS {
            let flags = flag as i64 | sigchld;
            probes.push(probe(
                &format!("clone_{flag:#x}"),
                libc::SYS_clone,
                &[flags, 0, 0, 0, 0],
                Expect::Errno(libc::EPERM),
            ));
        }
        probes.extend([
            // A plain fork-style clone is allowed (the child exits at once).
            probe("clone_plain", libc::SYS_clone, &[sigchld, 0, 0, 0, 0], Expect::Allowed),
            probe("clone3", libc::SYS_clone3, &[0, 0], Expect::Errno(libc::ENOSYS)),
            probe("personality_query", libc::SYS_personality, &[0xffff_ffff], Expect::Allowed),
            probe("personality_linux", libc::SYS_personality, &[0], Expect::Allowed),
            // ADDR_NO_RANDOMIZE would switch ASLR off.
            probe(
                "personality_no_aslr",
                libc::SYS_personality,
                &[0x0040000],
                Expect::Errno(libc::EPERM),
            ),
            probe(
                "socket_vsock",
                libc::SYS_socket,
                &[libc::AF_VSOCK as i64, libc::SOCK_STREAM as i64, 0],
                Expect::Errno(libc::EPERM),
            ),
            probe(
                "socket_unix",
                libc::SYS_socket,
                &[libc::AF_UNIX as i64, libc::SOCK_STREAM as i64, 0],
                Expect::Allowed,
            ),
            probe(
                "ioctl_tiocsti",
                libc::SYS_ioctl,
                &[0, libc::TIOCSTI as i64, 0],
                Expect::Errno(libc::EPERM),
            ),
            // High bits the kernel ignores do not get TIOCSTI past the filter.
            probe(
                "ioctl_tiocsti_high",
                libc::SYS_ioctl,
                &[0, libc::TIOCSTI as i64 | (1 << 32), 0],
                Expect::Errno(libc::EPERM),
            ),
            probe(
                "ioctl_tiocgwinsz",
                libc::SYS_ioctl,
                &[0, libc::TIOCGWINSZ as i64, 0],
                Expect::Allowed,
            ),
            probe(
                "ptrace_seize_nobody",
                libc::SYS_ptrace,
                &[libc::PTRACE_SEIZE as i64, i32::MAX as i64, 0, 0],
                Expect::Allowed,
            ),
            probe(
                "process_vm_readv",
                libc::SYS_process_vm_readv,
                &[i32::MAX as i64, 0, 0, 0, 0, 0],
                Expect::Allowed,
            ),
            probe("chroot_bad_ptr", libc::SYS_chroot, &[-1], Expect::Allowed),
            // Reviewed newer syscalls reach the kernel (fchmodat2, futex_wake, statmount).
            probe("fchmodat2", 452, &[-1, 0, 0, 0], Expect::Allowed),
            probe("futex_wake", 454, &[0, 0, 0, 0], Expect::Allowed),
            probe("statmount", 457, &[0, 0, 0, 0], Expect::Allowed),
            probe(
                "open_tree_attr",
                SYS_OPEN_TREE_ATTR,
                &[-1, 0, 0, 0, 0],
                Expect::Errno(libc::EPERM),
            ),
            probe(
                "newer_than_reviewed",
                REVIEWED_UP_TO as i64 + 1,
                &[],
                Expect::Errno(libc::ENOSYS),
            ),
            probe("far_future", 1000, &[], Expect::Errno(libc::ENOSYS)),
            probe("minus_one", -1, &[], Expect::Errno(libc::ENOSYS)),
        ]);
        check(&probes);
    }

    #[test]
    fn ordinary_programs_still_work_under_the_filter() {
        let status = run(Walls::Filtered, "cat", &["/proc/self/status".into()]);
        let text = stdout(&status);
        assert!(status.status.success(), "{status:?}");
        assert!(text.contains("Seccomp:\t2"), "filter mode: {text}");
        assert!(text.contains("NoNewPrivs:\t1"), "{text}");

        let ls = sh(Walls::Filtered, "ls / | wc -l");
        assert!(ls.status.success(), "{ls:?}");
        assert!(stdout(&ls).trim().parse::<u32>().unwrap() > 3, "{ls:?}");

        let py = python(Walls::Filtered, "print(1)", &[]);
        assert_eq!(stdout(&py), "1\n", "{py:?}");

        // glibc's pthread_create tries clone3, gets ENOSYS, falls back to clone.
        let threads = python(
            Walls::Filtered,
            "import threading; t = threading.Thread(target=lambda: print('thread')); t.start(); t.join()",
            &[],
        );
        assert_eq!(stdout(&threads), "thread\n", "{threads:?}");
    }

    #[test]
    fn unshare_is_refused() {
        let out = run(Walls::Filtered, "unshare", &["-U".into(), "true".into()]);
        assert!(!out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Operation not permitted"), "{err}");
        let bare = run(Walls::Bare, "unshare", &["-U".into(), "true".into()]);
        assert!(bare.status.success(), "unfiltered, unshare -U works here: {bare:?}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_syscalls_kill_the_process() {
        // getpid through the x32 ABI: bit 30 set in the number.
        let script =
            "import ctypes; ctypes.CDLL(None).syscall(ctypes.c_long(0x40000027)); print('alive')";
        let out = python(Walls::Filtered, script, &[]);
        assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{out:?}");
        let bare = python(Walls::Bare, script, &[]);
        assert_eq!(stdout(&bare), "alive\n", "{bare:?}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn i386_syscalls_through_int80_kill_the_process() {
        // mov eax, 20 (i386 getpid); int 0x80; ret — run from an executable mapping.
        let script = r#"
import ctypes, mmap, os
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(bytes([0xb8, 0x14, 0, 0, 0, 0xcd, 0x80, 0xc3]))
f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))
print("same pid" if f() == os.getpid() else "other")
"#;
        let bare = python(Walls::Bare, script, &[]);
        if stdout(&bare) != "same pid\n" {
            eprintln!("skipped: this kernel has no working int 0x80 (no IA32 emulation): {bare:?}");
            return;
        }
        let out = python(Walls::Filtered, script, &[]);
        assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{out:?}");
    }

    fn median(v: &mut [Duration]) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    fn monotonic_ns() -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes the timespec; async-signal-safe.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// Prints the one-off compile cost, the per-spawn install cost (timed in
    /// the child around the seccomp call and reported through a pipe), the
    /// spawn+wait of `/bin/true` with and without the filter, and the
    /// per-syscall cost the filter adds. Run with `--no-capture` to see it.
    #[test]
    fn timing_of_compile_install_and_syscalls() {
        const RUNS: usize = 200;
        let mut compile: Vec<Duration> = (0..50)
            .map(|_| {
                let t = Instant::now();
                let f = SeccompFilter::default_profile().unwrap();
                let d = t.elapsed();
                assert_eq!(f.len(), filter().len());
                d
            })
            .collect();

        let (read_end, write_end): (OwnedFd, OwnedFd) = rustix::pipe::pipe().unwrap();
        let wfd = write_end.as_raw_fd();
        let f = filter();
        let spawn = |walls: Walls| -> Duration {
            let mut cmd = Command::new("/bin/true");
            // SAFETY: raw syscalls and a stack buffer only.
            unsafe {
                cmd.pre_exec(move || {
                    if walls == Walls::Filtered {
                        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                        let t0 = monotonic_ns();
                        f.install()
                            .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))?;
                        let ns = (monotonic_ns() - t0).to_ne_bytes();
                        libc::write(wfd, ns.as_ptr().cast(), ns.len());
                    }
                    Ok(())
                });
            }
            let t = Instant::now();
            let status = cmd.status().unwrap();
            let d = t.elapsed();
            assert!(status.success());
            d
        };
        let mut bare: Vec<Duration> = (0..RUNS).map(|_| spawn(Walls::Bare)).collect();
        let mut walled: Vec<Duration> = (0..RUNS).map(|_| spawn(Walls::Filtered)).collect();
        drop(write_end);
        let mut buf = Vec::new();
        std::fs::File::from(read_end).read_to_end(&mut buf).unwrap();
        let mut install: Vec<Duration> = buf
            .chunks_exact(8)
            .map(|c| Duration::from_nanos(u64::from_ne_bytes(c.try_into().unwrap())))
            .collect();
        assert_eq!(install.len(), RUNS, "every filtered child reported its install time");

        let loop_script = "import os, time\nt = time.perf_counter_ns()\nfor _ in range(200000): os.getppid()\nprint((time.perf_counter_ns() - t) // 200000)";
        let per_call = |walls| -> u64 {
            let mut v: Vec<u64> = (0..5)
                .map(|_| stdout(&python(walls, loop_script, &[])).trim().parse().unwrap())
                .collect();
            v.sort();
            v[2]
        };
        let (call_bare, call_walled) = (per_call(Walls::Bare), per_call(Walls::Filtered));

        println!("seccomp filter: {} BPF instructions", filter().len());
        println!("| what | median |");
        println!("|---|---|");
        println!("| compile the profile (once per daemon) | {:?} |", median(&mut compile));
        println!("| install in the child (per spawn) | {:?} |", median(&mut install));
        println!("| spawn+wait /bin/true, no filter | {:?} |", median(&mut bare));
        println!("| spawn+wait /bin/true, nnp + filter | {:?} |", median(&mut walled));
        println!("| python os.getppid(), no filter | {call_bare} ns |");
        println!("| python os.getppid(), filter | {call_walled} ns |");
    }
}
