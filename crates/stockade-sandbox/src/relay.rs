//! The log relay of an unwalled box: the box's init binary run as
//! `stockade-init --relay` beside the agent (not its parent), reading the
//! agent's stdout and stderr pipes and appending timestamped, stream-tagged
//! records (`stockade_proto::log_record`) to the run's log, exactly as a
//! walled box's init does.
//!
//! The relay is not in the box's cgroup: it costs the agent no pid and no
//! memory, and a box killed whole (`cgroup.kill`) still has its last output
//! drained, because the relay ends only when the last holder of the pipes'
//! write ends (the agent or anything it started) is gone. It is not tied to
//! the daemon either (no parent-death signal, its own process group), so
//! output written while no daemon runs is logged, and a daemon that crashes
//! loses nothing. The daemon reaps it when it ends; after a daemon restart
//! the host's init does.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Duration;

use crate::spawn::Output;
use crate::walls::init::InitImage;

/// How long `finish` waits for a relay to write what is left in the pipes
/// once the box is empty.
const DRAIN: Duration = Duration::from_secs(2);

/// A running relay: ends when the pipes close.
#[derive(Debug)]
pub(crate) struct Relay(tokio::sync::oneshot::Receiver<()>);

impl Relay {
    /// Wait (at most [`DRAIN`]) until the relay has written everything and exited.
    pub(crate) async fn drained(self) {
        let _ = tokio::time::timeout(DRAIN, self.0).await;
    }
}

/// Start a relay that writes to `log`; returns it and the agent's stdout
/// and stderr (the pipes' write ends).
pub(crate) fn start(image: &InitImage, log: &Output) -> io::Result<(Relay, OwnedFd, OwnedFd)> {
    // Both ends ≥ 16, so the dup2 to fd 3 below never meets itself.
    let (out_r, out_w) = crate::walls::clone::pipe()?;
    let (err_r, err_w) = crate::walls::clone::pipe()?;
    // The kernel resolves /proc/self/fd/N before close-on-exec closes the
    // memfd, so a CLOEXEC image still execs (an ELF, not a script).
    let mut cmd = tokio::process::Command::new(format!("/proc/self/fd/{}", image.raw()));
    cmd.arg0("stockade-init").arg("--relay");
    cmd.stdin(Stdio::from(out_r)).stdout(Stdio::from(log.0.try_clone()?)).stderr(Stdio::null());
    cmd.process_group(0).kill_on_drop(false);
    let err_fd = err_r.as_raw_fd();
    // SAFETY: dup2(2) only (async-signal-safe); `err_r` lives until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(err_fd, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(err_r);
    let (done, ended) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = child.wait().await;
        let _ = done.send(());
    });
    Ok((Relay(ended), out_w, err_w))
}
