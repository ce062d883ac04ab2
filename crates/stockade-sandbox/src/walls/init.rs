//! The box's init (`init/main.rs`, built by `build.rs`), embedded in the
//! daemon and written once into a sealed memfd at `Sandbox::new`. Every box
//! execs it with `execveat(memfd, "", …, AT_EMPTY_PATH)`, which works after
//! `pivot_root` and on any root tree, and every init shares the memfd's
//! page-cache pages: each box pays only its own few private pages.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::SandboxError;

static INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/stockade-init"));

/// The sealed memfd holding the init binary.
#[derive(Debug)]
pub(crate) struct InitImage {
    fd: OwnedFd,
}

impl InitImage {
    pub(crate) fn load() -> Result<InitImage, SandboxError> {
        let fail = |e: std::io::Error| {
            SandboxError::io("write the box init into", "memfd:stockade-init", e)
        };
        // SAFETY: memfd_create with a static name; the fd is owned below.
        let raw = unsafe {
            libc::memfd_create(
                c"stockade-init".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if raw < 0 {
            return Err(fail(std::io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut file = std::fs::File::from(fd);
        file.write_all(INIT).map_err(fail)?;
        let seals =
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on an fd we own.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
            return Err(fail(std::io::Error::last_os_error()));
        }
        Ok(InitImage { fd: file.into() })
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
