//! Raw syscalls the walls need, as thin async-signal-safe wrappers: no
//! allocation, no locks, the errno returned as a plain `i32`. They are called
//! between `clone` and exec, where nothing else is allowed, and by the parent.

use std::ffi::{CStr, c_int, c_long};
use std::os::fd::RawFd;

/// An errno.
pub(crate) type Errno = i32;

pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub(crate) const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const OPEN_TREE_CLONE: u32 = 1;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;

fn errno() -> Errno {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

fn check(ret: c_long) -> Result<c_long, Errno> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `struct clone_args` of `clone3(2)`, the fields up to `tls`.
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// Fork-like `clone3`: no shared memory, no new stack, SIGCHLD at exit, and a
/// pidfd for the child. Returns `(0, -1)` in the child, `(pid, pidfd)` in
/// the parent.
///
/// # Safety
/// The child is a copy of the calling thread only: until it execs it may make
/// async-signal-safe calls only (no allocation, no locks).
pub(crate) unsafe fn clone_pidfd(flags: u64) -> Result<(i32, RawFd), Errno> {
    let mut pidfd: c_int = -1;
    let args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut c_int as u64,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
    };
    // SAFETY: the caller accepts the fork-like contract; `args` and `pidfd`
    // live across the call.
    let pid = check(unsafe {
        libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>())
    })?;
    Ok((pid as i32, pidfd))
}

pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: u64,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is a live NUL-terminated string or null.
    let ret = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags as libc::c_ulong,
            ptr(data).cast(),
        )
    };
    check(ret as c_long).map(drop)
}

/// `mount_setattr(dirfd, path, flags, {set, clear, userns_fd})`.
pub(crate) fn mount_setattr(
    dirfd: RawFd,
    path: &CStr,
    flags: u32,
    set: u64,
    clear: u64,
    userns_fd: Option<RawFd>,
) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: userns_fd.map_or(0, |fd| fd as u64),
    };
    // SAFETY: `path` and `attr` live across the call; the size is exact.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// A detached recursive copy of the tree at `path` (`open_tree(OPEN_TREE_CLONE)`).
pub(crate) fn open_tree_clone(path: &CStr) -> Result<RawFd, Errno> {
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | libc::AT_RECURSIVE as u32;
    // SAFETY: `path` is a live NUL-terminated string.
    check(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) })
        .map(|fd| fd as RawFd)
}

/// Attach the detached tree `fd` at `target`.
pub(crate) fn move_mount(fd: RawFd, target: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are live and NUL-terminated.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

pub(crate) fn pivot_root(new_root: &CStr, put_old: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are live and NUL-terminated.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

pub(crate) fn umount_detach(target: &CStr) -> Result<(), Errno> {
    // SAFETY: `target` is live and NUL-terminated.
    check(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } as c_long).map(drop)
}

pub(crate) fn mkdir(path: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `path` is live and NUL-terminated.
    match check(unsafe { libc::mkdir(path.as_ptr(), mode) } as c_long) {
        Err(libc::EEXIST) | Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Create an empty file to bind a file over (exists already: fine).
pub(crate) fn touch(path: &CStr) -> Result<(), Errno> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: `path` is live and NUL-terminated.
    let fd = check(unsafe { libc::open(path.as_ptr(), flags, 0o644) } as c_long)?;
    close(fd as RawFd);
    Ok(())
}

pub(crate) fn symlink(target: &CStr, link: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are live and NUL-terminated.
    check(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) } as c_long).map(drop)
}

pub(crate) fn chdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is live and NUL-terminated.
    check(unsafe { libc::chdir(path.as_ptr()) } as c_long).map(drop)
}

pub(crate) fn close(fd: RawFd) {
    // SAFETY: closing an fd this process owns; errors do not matter here.
    unsafe { libc::close(fd) };
}

pub(crate) fn dup2(from: RawFd, to: RawFd) -> Result<(), Errno> {
    // SAFETY: dup2 has no memory-safety preconditions.
    check(unsafe { libc::dup2(from, to) } as c_long).map(drop)
}

/// Mark every fd from `first` up close-on-exec.
pub(crate) fn cloexec_from(first: u32) -> Result<(), Errno> {
    // SAFETY: close_range has no memory-safety preconditions.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) })
        .map(drop)
}

/// Close every fd from `first` up except those in `keep` (sorted).
/// Async-signal-safe: `close_range` over the gaps.
pub(crate) fn close_all_but(first: RawFd, keep: &[RawFd]) -> Result<(), Errno> {
    let mut lo = first as u32;
    for &fd in keep {
        let fd = fd as u32;
        if fd > lo {
            // SAFETY: close_range has no memory-safety preconditions.
            check(unsafe { libc::syscall(libc::SYS_close_range, lo, fd - 1, 0) })?;
        }
        lo = lo.max(fd + 1);
    }
    // SAFETY: as above.
    check(unsafe { libc::syscall(libc::SYS_close_range, lo, u32::MAX, 0) }).map(drop)
}

pub(crate) fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        // SAFETY: `buf` is a live slice of the given length.
        match check(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) } as c_long) {
            Ok(n) => buf = &buf[n as usize..],
            Err(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read up to `buf.len()` bytes until EOF; returns how many were read.
pub(crate) fn read_full(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the destination is the live tail of `buf`.
        let ret = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        match check(ret as c_long) {
            Ok(0) => break,
            Ok(n) => got += n as usize,
            Err(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

pub(crate) fn setns(fd: RawFd, flags: c_int) -> Result<(), Errno> {
    // SAFETY: setns has no memory-safety preconditions.
    check(unsafe { libc::setns(fd, flags) } as c_long).map(drop)
}

pub(crate) fn pidfd_send_signal(pidfd: RawFd, signal: c_int) -> Result<(), Errno> {
    // SAFETY: a null siginfo is allowed.
    check(unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd, signal, std::ptr::null::<u8>(), 0)
    })
    .map(drop)
}

pub(crate) fn prctl(option: c_int, arg: u64) -> Result<(), Errno> {
    // SAFETY: the options used here take integer arguments only.
    check(unsafe { libc::prctl(option, arg, 0u64, 0u64, 0u64) } as c_long).map(drop)
}

/// `capset(2)`, version 3: the same 64-bit set as effective and permitted,
/// nothing inheritable.
pub(crate) fn capset(caps: u64) -> Result<(), Errno> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = Header { version: 0x2008_0522, pid: 0 };
    let (lo, hi) = (caps as u32, (caps >> 32) as u32);
    let data = [
        Data { effective: lo, permitted: lo, inheritable: 0 },
        Data { effective: hi, permitted: hi, inheritable: 0 },
    ];
    // SAFETY: header and data are live and laid out as the kernel expects.
    check(unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) })
        .map(drop)
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`; returns only on failure.
///
/// # Safety
/// `argv` and `envp` must be null-terminated arrays of live C strings.
pub(crate) unsafe fn execveat_fd(
    fd: RawFd,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> Errno {
    // SAFETY: the caller guarantees the arrays.
    unsafe {
        libc::syscall(libc::SYS_execveat, fd, c"".as_ptr(), argv, envp, libc::AT_EMPTY_PATH);
    }
    errno()
}

/// Bring `lo` up in the current network namespace.
pub(crate) fn loopback_up() -> Result<(), Errno> {
    // SAFETY: socket/ioctl/close on a local buffer laid out as `struct ifreq`
    // (16-byte name, then the flags short), 40 bytes.
    unsafe {
        let sock =
            check(libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) as c_long)?
                as RawFd;
        let mut ifr = [0u8; 40];
        ifr[..2].copy_from_slice(b"lo");
        let flags = (libc::IFF_UP | libc::IFF_RUNNING) as i16;
        ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
        let ret = libc::ioctl(sock, libc::SIOCSIFFLAGS, ifr.as_mut_ptr());
        let err = errno();
        close(sock);
        if ret < 0 { Err(err) } else { Ok(()) }
    }
}
