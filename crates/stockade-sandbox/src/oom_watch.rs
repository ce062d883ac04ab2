//! Noticing an OOM kill while it happens, without a thread per box: the
//! [`OomWatch`] (a wakeup source) and the [`OomTracker`] an agent keeps.
//!
//! v1: an eventfd registered through `cgroup.event_control` on
//! `memory.oom_control`; it fires when the box enters OOM (slightly *before*
//! the kill is counted) and also when the cgroup is removed. v2: an inotify
//! watch on `memory.events`, which the kernel marks modified on every counter
//! change. Either way a wakeup only means "look again": the caller re-reads the
//! `oom_kill` counter and decides. Both fds are driven by tokio's reactor.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{EventfdFlags, eventfd};
use rustix::fs::inotify;
use tokio::io::unix::AsyncFd;

use crate::SandboxError;
use crate::backend::file;

/// A source of "the box's OOM state may have changed" wakeups, and the file
/// that holds the `oom_kill` count (`memory.oom_control` on v1,
/// `memory.events` on v2) so a wakeup costs one file read, not a full
/// counter snapshot.
#[derive(Debug)]
pub(crate) enum OomWatch {
    /// cgroup v1: an eventfd tied to `memory.oom_control`.
    EventFd(AsyncFd<OwnedFd>, PathBuf),
    /// cgroup v2: an inotify fd watching `memory.events`.
    Inotify(AsyncFd<OwnedFd>, PathBuf),
    /// No notification source (the none backend): never wakes.
    Never,
}

impl OomWatch {
    /// Register an eventfd for `oom_control` through `event_control` (cgroup v1).
    pub(crate) fn v1(oom_control: &Path, event_control: &Path) -> Result<OomWatch, SandboxError> {
        let efd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| SandboxError::io("create an eventfd for", oom_control, e.into()))?;
        let control = std::fs::File::open(oom_control)
            .map_err(|e| SandboxError::io("open", oom_control, e))?;
        // The kernel takes its own reference; `control` may close afterwards.
        file::write(event_control, &format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()))?;
        register(efd, oom_control).map(|fd| OomWatch::EventFd(fd, oom_control.to_path_buf()))
    }

    /// Watch `memory_events` for modification (cgroup v2).
    pub(crate) fn v2(memory_events: &Path) -> Result<OomWatch, SandboxError> {
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .map_err(|e| SandboxError::io("create an inotify fd for", memory_events, e.into()))?;
        inotify::add_watch(&fd, memory_events, inotify::WatchFlags::MODIFY)
            .map_err(|e| SandboxError::io("watch", memory_events, e.into()))?;
        register(fd, memory_events).map(|fd| OomWatch::Inotify(fd, memory_events.to_path_buf()))
    }

    /// The box's `oom_kill` count now (`None`: no counter, or unreadable).
    pub(crate) fn count(&self) -> Option<u64> {
        match self {
            OomWatch::EventFd(_, path) | OomWatch::Inotify(_, path) => {
                file::read_key(path, "oom_kill").ok()
            }
            OomWatch::Never => None,
        }
    }

    /// Wait for the next wakeup and consume it. Cancel-safe: a wakeup is only
    /// consumed in the same poll that returns it.
    pub(crate) async fn changed(&self) -> io::Result<()> {
        let fd = match self {
            OomWatch::EventFd(fd, _) | OomWatch::Inotify(fd, _) => fd,
            OomWatch::Never => return std::future::pending().await,
        };
        loop {
            let mut guard = fd.readable().await?;
            let mut buf = [0u8; 4096];
            match guard.try_io(|inner| {
                rustix::io::read(inner.get_ref(), &mut buf).map_err(io::Error::from)
            }) {
                Ok(result) => return result.map(drop),
                Err(_would_block) => continue,
            }
        }
    }
}

/// The OOM side of an agent: the watch and what has been reported. Its
/// state changes only between awaits, so a cancelled wait loses nothing.
pub(crate) struct OomTracker {
    watch: OomWatch,
    /// `oom_kill` when the box was made.
    baseline: u64,
    /// OOM kills already reported.
    reported: u64,
    /// The watch woke but the counter had not risen yet.
    recheck: bool,
    /// The watch failed; only the exit will tell.
    broken: bool,
}

impl OomTracker {
    /// Track `watch`, counting kills above `baseline`.
    pub(crate) fn new(watch: OomWatch, baseline: u64) -> OomTracker {
        OomTracker { watch, baseline, reported: 0, recheck: false, broken: false }
    }

    /// The next rise of the box's OOM-kill count (kills since the box was made).
    pub(crate) async fn next(&mut self, box_name: &str) -> u64 {
        loop {
            if let Some(count) = self.rise() {
                return count;
            }
            if self.recheck {
                // v1 signals OOM just before the kill is counted: look again
                // shortly before waiting for the next wakeup.
                for delay_ms in [1, 2, 4, 8, 16, 32, 64, 128] {
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    if let Some(count) = self.rise() {
                        return count;
                    }
                }
                self.recheck = false;
            }
            if self.broken {
                return std::future::pending().await;
            }
            match self.watch.changed().await {
                Ok(()) => self.recheck = true,
                Err(err) => {
                    tracing::warn!(%box_name, %err, "OOM watch failed; OOM kills will only be seen at exit");
                    self.broken = true;
                }
            }
        }
    }

    fn rise(&mut self) -> Option<u64> {
        let rise = self.watch.count()?.saturating_sub(self.baseline);
        if rise > self.reported {
            self.reported = rise;
            self.recheck = false;
            Some(rise)
        } else {
            None
        }
    }
}

fn register(fd: OwnedFd, what: &Path) -> Result<AsyncFd<OwnedFd>, SandboxError> {
    // SAFETY: the AsyncFd owns `fd`, so the descriptor stays open and refers
    // to the same file description for the AsyncFd's whole lifetime.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| SandboxError::io("register with the reactor the watch of", what, e.into()))
}
