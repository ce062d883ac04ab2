//! The local terminal for `exec -t`: its size, and [`RawMode`], which puts it
//! in raw mode and restores it when dropped (on return, error or panic).

use std::os::fd::AsRawFd;
use stockade_proto::TermSize;

/// The size of the terminal on stdout (or stdin), if either is one.
pub fn size() -> Option<TermSize> {
    [std::io::stdout().as_raw_fd(), std::io::stdin().as_raw_fd()].into_iter().find_map(|fd| {
        let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ writes one winsize through the pointer.
        let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
        (rc == 0 && ws.ws_row > 0).then_some(TermSize { rows: ws.ws_row, cols: ws.ws_col })
    })
}

/// The terminal on stdin in raw mode; dropping it restores the old mode.
pub struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    /// Make stdin's terminal raw; `None` if stdin is not a terminal.
    pub fn enter() -> std::io::Result<Option<RawMode>> {
        let fd = std::io::stdin().as_raw_fd();
        // SAFETY: isatty only inspects the fd.
        if unsafe { libc::isatty(fd) } != 1 {
            return Ok(None);
        }
        // SAFETY: termios is plain data; tcgetattr fills it.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is a terminal; the pointer is valid.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw edits the struct in place.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: fd is a terminal; the pointer is valid.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes read in `enter` on the same fd.
        unsafe { libc::tcsetattr(std::io::stdin().as_raw_fd(), libc::TCSANOW, &self.saved) };
    }
}
