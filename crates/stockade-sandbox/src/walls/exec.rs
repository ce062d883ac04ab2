//! `Sandbox::exec`: a command inside a running walled box.
//!
//! The box is found in the sandbox's registry by its init's host pid (the
//! registry holds a pidfd from the spawn, so a reused pid can never lead into
//! a stranger), and `/proc/<pid>/cgroup` must still name the box under this
//! sandbox's parent. The child joins the box's cgroups, then `setns` through
//! the init's pidfd into its user, mount, pid, ipc and uts namespaces (and
//! net, for `network = none`), takes the box user's ids and capabilities,
//! `no_new_privs` and the seccomp filter exactly as the agent did, and execs
//! the init binary as a relay: it forks the command into the box's pid
//! namespace, forwards signals, and writes the command's exact status to an
//! exit record (a memfd). The command is in the box's cgroup, so killing the
//! box kills it, and it dies with the box's pid namespace.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use super::process::WalledChild;
use super::start::Checked;

/// A command to run in a running walled box.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    /// The box's main pid, as [`crate::Agent::pid`] reports it (its init).
    pub pid: u32,
    /// The program and its arguments; `argv[0]` is looked up in the box's `PATH`.
    pub argv: Vec<String>,
    /// Added to (or overriding) the box's own environment.
    pub env: Vec<(String, String)>,
    /// The working directory inside the box; the box's when `None`.
    pub cwd: Option<PathBuf>,
    /// Give the command a pseudo-terminal (one master fd) instead of pipes.
    pub tty: bool,
}

/// What a registered box remembers for `exec`.
#[derive(Debug)]
pub(crate) struct BoxEntry {
    pub(crate) pidfd: Arc<OwnedFd>,
    pub(crate) box_name: String,
    pub(crate) checked: Checked,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: PathBuf,
    pub(crate) limits: stockade_proto::Limits,
}

/// Walled boxes by their init's host pid.
pub(crate) type Registry = Arc<Mutex<HashMap<u32, Arc<BoxEntry>>>>;

/// Removes a box from the registry when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) registry: Registry,
    pub(crate) pid: u32,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.pid);
    }
}

/// A pseudo-terminal master, readable and writable.
#[derive(Debug)]
pub struct PtyMaster {
    fd: AsyncFd<OwnedFd>,
}

impl AsyncRead for PtyMaster {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = std::task::ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let res = guard.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut *unfilled)?));
            match res {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // EIO: the other side hung up (the command ended): EOF.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyMaster {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = std::task::ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| Ok(rustix::io::write(fd.get_ref(), data)?)) {
                Ok(res) => return Poll::Ready(res),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A command running in a box.
#[derive(Debug)]
pub struct ExecProcess {
    pub(crate) relay: WalledChild,
    pub(crate) stdin: Option<ChildStdin>,
    pub(crate) stdout: Option<ChildStdout>,
    pub(crate) stderr: Option<ChildStderr>,
    pub(crate) pty: Option<PtyMaster>,
    pub(crate) pty_raw: Option<i32>,
}

impl ExecProcess {
    /// The host pid of the relay that waits for the command.
    pub fn pid(&self) -> u32 {
        self.relay.pid()
    }

    /// The command's stdin (pipes only, once).
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// The command's stdout (pipes only, once).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// The command's stderr (pipes only, once).
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.stderr.take()
    }

    /// The pty master (tty only, once): read the command's output, write its input.
    pub fn take_pty(&mut self) -> Option<PtyMaster> {
        self.pty.take()
    }

    /// Set the terminal size (tty only).
    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        let fd = self.pty_raw.ok_or_else(|| io::Error::other("the exec has no tty"))?;
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads a live winsize; the master fd is owned by
        // this process (or by the PtyMaster taken from it).
        if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &size) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Wait for the command: its exact exit code or signal. Cancel-safe.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.relay.wait().await
    }

    /// SIGKILL the relay; the command has the relay's death as its
    /// parent-death signal (SIGKILL), so it dies too. What the command forked
    /// lives on in the box until the box ends.
    pub fn kill(&self) -> io::Result<()> {
        self.relay.signal(libc::SIGKILL)
    }

    /// Send `signal` to the command (through the relay).
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        self.relay.signal(signal)
    }
}

impl Drop for ExecProcess {
    fn drop(&mut self) {
        if self.relay.reaped() {
            return;
        }
        // Not waited for: kill it and reap it off the caller's path, so no
        // zombie is left (the relay is a raw clone child of the daemon).
        let _ = self.relay.signal(libc::SIGKILL);
        let (pid, pidfd) = (self.relay.pid(), self.relay.pidfd().try_clone());
        if let Ok(pidfd) = pidfd
            && let Ok(relay) = WalledChild::new(pid, pidfd, None)
        {
            super::reap_in_background(relay, None);
        }
    }
}

/// An anonymous file for the relay's exit record.
pub(crate) fn record_memfd() -> io::Result<File> {
    // SAFETY: memfd_create with a static name; the fd is owned below.
    let fd = unsafe { libc::memfd_create(c"stockade-exec-record".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// A new pty pair from the host's `/dev/ptmx`: `(master, slave)`.
pub(crate) fn open_pty() -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on an fd we own and a
    // local buffer of the given size.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if master < 0 {
            return Err(io::Error::last_os_error());
        }
        let master = OwnedFd::from_raw_fd(master);
        if libc::grantpt(master.as_raw_fd()) < 0 || libc::unlockpt(master.as_raw_fd()) < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut name = [0 as libc::c_char; 128];
        if libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) != 0 {
            return Err(io::Error::last_os_error());
        }
        let path = std::ffi::CStr::from_ptr(name.as_ptr());
        let slave = libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if slave < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((master, OwnedFd::from_raw_fd(slave)))
    }
}

/// Make the master non-blocking and wrap it for tokio.
pub(crate) fn pty_master(fd: OwnedFd) -> io::Result<PtyMaster> {
    rustix::io::ioctl_fionbio(&fd, true)?;
    // SAFETY: the AsyncFd owns the master for its whole life.
    Ok(PtyMaster { fd: unsafe { AsyncFd::register(fd) }? })
}

/// Whether `pid`'s cgroup (per `/proc/<pid>/cgroup`) is the box `box_name`
/// under `parent` in every hierarchy that lists the parent.
pub(crate) fn in_box(pid: u32, parent: &str, box_name: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else { return false };
    let suffix = format!("/{parent}/{box_name}");
    let mut seen = false;
    for line in text.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        if path.contains(&format!("/{parent}/")) || path.ends_with(&format!("/{parent}")) {
            if !path.ends_with(&suffix) {
                return false;
            }
            seen = true;
        }
    }
    seen
}

pub(crate) fn cstr(bytes: &[u8]) -> Option<CString> {
    CString::new(bytes).ok()
}
