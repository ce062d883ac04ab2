//! Waiting for a walled box's init: the pidfd from `clone3` is readable when
//! the init has exited, `waitid(P_PIDFD, WEXITED)` reaps it, and the exit
//! record the init wrote gives the agent's exact status — which is what
//! [`WalledChild::wait`] returns, so classification sees the agent, not the
//! init's `128 + N`. Without a record (the init was killed before the agent
//! ended, e.g. by kill-box) the init's own status is the answer.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::sys;

/// A box's init (or an exec's relay), waited on by pidfd.
#[derive(Debug)]
pub(crate) struct WalledChild {
    pid: u32,
    pidfd: AsyncFd<Arc<OwnedFd>>,
    record: Option<File>,
    status: Option<ExitStatus>,
    /// Not our child (adopted from an earlier daemon): exit is seen as the
    /// pidfd turning readable, and only the record can give a status.
    adopted: bool,
}

/// Parse an exit record line into a raw wait status.
pub(crate) fn parse_record(text: &str) -> Option<i32> {
    let mut words = text.split_whitespace();
    match (words.next()?, words.next()?.parse::<i32>().ok()?) {
        ("exited", code) if (0..256).contains(&code) => Some(code << 8),
        ("signaled", sig) if (1..128).contains(&sig) => {
            Some(sig | if words.next() == Some("core") { 0x80 } else { 0 })
        }
        _ => None,
    }
}

/// The raw wait status in an exit record file, if one was written.
pub(crate) fn read_record(file: &File) -> Option<i32> {
    let mut buf = [0u8; 64];
    let n = file.read_at(&mut buf, 0).ok()?;
    parse_record(std::str::from_utf8(&buf[..n]).ok()?)
}

/// The kernel's `struct pidfd_info` up to `exit_code` (`PIDFD_INFO_SIZE_VER0`).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    ids: [u32; 11],
    exit_code: i32,
}

/// `_IOWR(PIDFS_IOCTL_MAGIC, 11, struct pidfd_info)` at 64 bytes.
const PIDFD_GET_INFO: libc::c_ulong = 0xC040_FF0B;
/// `PIDFD_INFO_EXIT`: the exit status of a reaped task (Linux 6.15+).
const PIDFD_INFO_EXIT: u64 = 1 << 3;

/// The wait status of an exited, reaped process held by `pidfd`, from
/// `PIDFD_GET_INFO` (`PIDFD_INFO_EXIT`): how an adopted unwalled agent, not
/// our child and with no init to write a record, still reports its exact
/// status. `None` on kernels without it or when the kernel has none.
pub(crate) fn exit_info(pidfd: &OwnedFd) -> Option<i32> {
    let mut info = PidfdInfo { mask: PIDFD_INFO_EXIT, ..PidfdInfo::default() };
    // SAFETY: the ioctl writes at most 64 bytes into `info`, which is 64 bytes.
    let ret = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO as _, &mut info) };
    (ret == 0 && info.mask & PIDFD_INFO_EXIT != 0).then_some(info.exit_code)
}

/// The wait status in a `waitid` siginfo.
fn raw_status(info: &libc::siginfo_t) -> i32 {
    // SAFETY: waitid filled a SIGCHLD siginfo, whose status field is valid.
    let status = unsafe { info.si_status() };
    match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_DUMPED => status | 0x80,
        _ => status,
    }
}

impl WalledChild {
    /// Must be called inside the runtime (registers the pidfd with the reactor).
    pub(crate) fn new(pid: u32, pidfd: OwnedFd, record: Option<File>) -> io::Result<WalledChild> {
        Self::shared(pid, Arc::new(pidfd), record)
    }

    /// Like `new`, with the pidfd shared (the exec registry holds the same
    /// fd, so a walled box costs no extra descriptor for it).
    pub(crate) fn shared(
        pid: u32,
        pidfd: Arc<OwnedFd>,
        record: Option<File>,
    ) -> io::Result<WalledChild> {
        // SAFETY: the Arc keeps the pidfd open for the AsyncFd's whole life,
        // and nobody closes it while an Arc is alive.
        let pidfd = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }?;
        Ok(WalledChild { pid, pidfd, record, status: None, adopted: false })
    }

    /// An init an earlier daemon started, found alive by its pidfd
    /// (`pidfd_open`); `record` is its exit record. Must be called inside
    /// the runtime.
    pub(crate) fn adopted(pid: u32, pidfd: OwnedFd, record: Option<File>) -> io::Result<Self> {
        let mut child = Self::new(pid, pidfd, record)?;
        child.adopted = true;
        Ok(child)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn pidfd(&self) -> &OwnedFd {
        self.pidfd.get_ref()
    }

    /// Reap without blocking: `Some(status)` once it has exited.
    fn try_reap(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        if self.adopted {
            return self.try_adopted_exit();
        }
        // SAFETY: a zeroed siginfo is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own pidfd with a valid siginfo pointer.
        let ret = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                self.pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above; si_pid is valid after a successful waitid.
        if unsafe { info.si_pid() } == 0 {
            return Ok(None);
        }
        let init = raw_status(&info);
        let agent = self.record.as_ref().and_then(read_record);
        let status = ExitStatus::from_raw(agent.unwrap_or(init));
        self.status = Some(status);
        Ok(Some(status))
    }

    /// An adopted init: exited once its pidfd polls readable (the host's
    /// init reaps it); the status is the record's. With no record (the init
    /// was killed from outside) the agent's status cannot be known: an error,
    /// never a made-up status.
    fn try_adopted_exit(&mut self) -> io::Result<Option<ExitStatus>> {
        let mut poll =
            libc::pollfd { fd: self.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll(2) on one valid pollfd, without blocking.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        if ready <= 0 || poll.revents & (libc::POLLIN | libc::POLLHUP) == 0 {
            return Ok(None);
        }
        let raw = self.record.as_ref().and_then(read_record).or_else(|| exit_info(self.pidfd()));
        let Some(raw) = raw else {
            return Err(io::Error::other(
                "the box's init ended without an exit record (killed from outside?)",
            ));
        };
        let status = ExitStatus::from_raw(raw);
        self.status = Some(status);
        Ok(Some(status))
    }

    /// Wait for the exit; the agent's status from the record when there is
    /// one. Cancel-safe; the same status on every call after the exit.
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_reap()? {
                return Ok(status);
            }
            let mut guard = self.pidfd.readable().await?;
            guard.clear_ready();
        }
    }

    /// Send `signal` to the init (a no-op once it is reaped).
    pub(crate) fn signal(&self, signal: i32) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        match sys::pidfd_send_signal(self.pidfd.as_raw_fd(), signal) {
            Ok(()) | Err(libc::ESRCH) => Ok(()),
            Err(e) => Err(io::Error::from_raw_os_error(e)),
        }
    }

    /// Whether it has been reaped.
    pub(crate) fn reaped(&self) -> bool {
        self.status.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_to_raw_wait_statuses() {
        let status = |t: &str| parse_record(t).map(ExitStatus::from_raw);
        assert_eq!(status("exited 3\n").and_then(|s| s.code()), Some(3));
        let segv = status("signaled 11 core\n").unwrap();
        assert_eq!((segv.signal(), segv.core_dumped()), (Some(11), true));
        let killed = status("signaled 9\n").unwrap();
        assert_eq!((killed.signal(), killed.core_dumped()), (Some(9), false));
        assert_eq!(parse_record(""), None);
        assert_eq!(parse_record("exited 300"), None);
        assert_eq!(parse_record("garbage 1"), None);
    }
}
