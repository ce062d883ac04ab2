//! Detached trees for every bind of a host path into a box, made by the
//! daemon before the clone: the child's mapped ids may not be able to walk
//! the path to a source (a workspace in the 0700 state dir, a mount source
//! under `/root`), so the daemon opens each source as a detached copy
//! ([`detached`]) and the child only attaches it with `move_mount`.
//!
//! Idmapped mounts for writable `mounts`: a detached copy of the source tree
//! (`open_tree(OPEN_TREE_CLONE)`) with `MOUNT_ATTR_IDMAP` set to a user
//! namespace that maps the box user's host id to the source's owner, so a
//! file the agent writes lands on disk owned by the mount's owner, and the
//! owner's files look like the box user's inside. The parent builds the tree;
//! the child attaches it with `move_mount`.
//!
//! The user namespace comes from a throwaway child cloned with
//! `CLONE_NEWUSER` that waits on a pipe while its maps are written and its
//! `ns/user` opened (the fd keeps the namespace alive after it exits).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::sys;

/// A user namespace whose single uid and gid lines are `inside outside 1`.
pub(crate) fn userns(uid: (u32, u32), gid: (u32, u32)) -> io::Result<OwnedFd> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (wait_fd, release_fd) = (read.as_raw_fd(), write.as_raw_fd());
    // SAFETY: the child only reads a pipe and exits (async-signal-safe).
    let (pid, pidfd) = unsafe { sys::clone_pidfd(libc::CLONE_NEWUSER as u64) }
        .map_err(io::Error::from_raw_os_error)?;
    if pid == 0 {
        // Our copy of the write end would keep the pipe from ever closing.
        sys::close(release_fd);
        let mut byte = [0u8; 1];
        let _ = sys::read_full(wait_fd, &mut byte);
        // SAFETY: _exit ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: clone3 handed us this fresh pidfd.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    drop(read);
    let result = (|| {
        std::fs::write(format!("/proc/{pid}/uid_map"), format!("{} {} 1\n", uid.0, uid.1))?;
        std::fs::write(format!("/proc/{pid}/gid_map"), format!("{} {} 1\n", gid.0, gid.1))?;
        std::fs::File::open(format!("/proc/{pid}/ns/user")).map(OwnedFd::from)
    })();
    drop(write);
    let _ = rustix::process::waitid(
        rustix::process::WaitId::PidFd(pidfd.as_fd()),
        rustix::process::WaitIdOptions::EXITED,
    );
    result
}

/// A detached, idmapped, recursive copy of `source` (nosuid).
pub(crate) fn tree(source: &Path, userns: &OwnedFd) -> io::Result<OwnedFd> {
    clone_with(source, sys::MOUNT_ATTR_IDMAP | sys::MOUNT_ATTR_NOSUID, Some(userns.as_raw_fd()))
}

/// A detached, recursive copy of `source` with the mount attributes `set`
/// (e.g. `MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID`) on every mount in it.
pub(crate) fn detached(source: &Path, set: u64) -> io::Result<OwnedFd> {
    clone_with(source, set, None)
}

fn clone_with(source: &Path, set: u64, userns: Option<i32>) -> io::Result<OwnedFd> {
    let path = CString::new(source.as_os_str().as_bytes())?;
    let fd = sys::open_tree_clone(&path).map_err(io::Error::from_raw_os_error)?;
    // SAFETY: open_tree returned a fresh fd we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let flags = (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as u32;
    sys::mount_setattr(fd.as_raw_fd(), c"", flags, set, 0, userns)
        .map_err(io::Error::from_raw_os_error)?;
    Ok(fd)
}

/// Can this host make idmapped mounts (of a directory in the temp dir)?
pub(crate) fn probe() -> Result<(), String> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Named for the process and the call: two probes at once (tests run in
    // threads) never share, nor remove, each other's directory.
    let dir = std::env::temp_dir().join(format!("stockade-idmap-probe-{}-{n}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let _made = RemoveOnDrop(&dir);
    userns((0, 65_534), (0, 65_534))
        .map_err(|e| format!("user namespace for the idmap: {e}"))
        .and_then(|ns| {
            tree(&dir, &ns).map(drop).map_err(|e| format!("idmap {}: {e}", dir.display()))
        })
}

/// Removes the probe's empty directory on every way out of [`probe`],
/// a panic included.
struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(self.0);
    }
}
