//! stockade-init: pid 1 of a walled box (and the relay of `Sandbox::exec`).
//!
//! Compiled by the sandbox crate's `build.rs` into a tiny static binary,
//! embedded in the daemon and exec'd from a sealed memfd, so it works on any
//! root tree and each box pays only its own small RSS.
//!
//! `stockade-init [--tty] [--log] PROGRAM -- ARGV...`, with the agent's environment as
//! its own, fd 3 the spawn-error pipe and fd 4 the exit record. It blocks every
//! signal, forks the agent (own session and process group, signal mask and
//! dispositions reset, `--tty`: the terminal on fd 0 becomes its controlling
//! terminal, SIGKILL if this process dies) and execs PROGRAM; an exec failure is reported as the errno (4
//! bytes, native endian) on fd 3, which otherwise closes on exec. Then it
//! loops on a `signalfd` (with `poll`, beside the log pipes): every catchable signal but SIGCHLD goes to the
//! agent's process group; SIGCHLD reaps every zombie (it is pid 1). When the
//! agent is reaped it writes the agent's exact wait status as one line to fd 4
//! (`exited 3`, `signaled 9`, `signaled 11 core`) and exits with the agent's
//! code (or 128 + signal). The agent's code never runs in this process.
//!
//! `--log`: fd 1 is the run's log file (`O_APPEND`). The agent's stdout and
//! stderr become two pipes this process reads and writes to the log as
//! timestamped, stream-tagged records (`stockade_proto::log_record`, compiled
//! in from the same source), so the daemon is not in the output's path: what
//! is written while no daemon runs is kept. When the agent is reaped, what is
//! left in the pipes is drained before the exit record is written.
//!
//! `stockade-init --relay`: the same framing for an unwalled box: fd 0 is the
//! agent's stdout pipe, fd 3 its stderr pipe, fd 1 the log; it exits when both
//! pipes close (when the agent and everything it started have exited).

use std::ffi::{CString, OsString, c_char, c_int, c_long, c_void};
use std::os::unix::ffi::OsStringExt;

#[path = "../../stockade-proto/src/log_record.rs"]
#[allow(dead_code)]
mod log_record;

use log_record::{Framer, HOLD_NS, LogStream};


const SIGCHLD: c_int = 17;
const SIGKILL: c_int = 9;
const SIGSTOP: c_int = 19;
const SIG_SETMASK: c_int = 2;
const WNOHANG: c_int = 1;
const F_SETFD: c_int = 2;
const FD_CLOEXEC: c_int = 1;
const TIOCSCTTY: c_long = 0x540E;
const PR_SET_DUMPABLE: c_int = 4;
const PR_SET_NAME: c_int = 15;
const PR_SET_PDEATHSIG: c_int = 1;
const ERROR_FD: c_int = 3;
const RECORD_FD: c_int = 4;
const LOG_FD: c_int = 1;
const O_CLOEXEC: c_int = 0o2000000;
const O_NONBLOCK: c_int = 0o4000;
const F_GETFL: c_int = 3;
const F_SETFL: c_int = 4;
const POLLIN: i16 = 1;
const EINTR: c_int = 4;
const EAGAIN: c_int = 11;
/// The most bytes read from a pipe per wakeup.
const READ_CHUNK: usize = 64 * 1024;

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

/// The kernel's sigset (glibc's `sigset_t` is 1024 bits).
#[repr(C)]
struct SigSet([u64; 16]);

unsafe extern "C" {
    fn sigfillset(set: *mut SigSet) -> c_int;
    fn sigemptyset(set: *mut SigSet) -> c_int;
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn signal(sig: c_int, handler: usize) -> usize;
    fn fork() -> c_int;
    fn setsid() -> c_int;
    fn ioctl(fd: c_int, request: c_long, ...) -> c_int;
    fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn write(fd: c_int, buf: *const c_void, n: usize) -> isize;
    fn close(fd: c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn prctl(option: c_int, ...) -> c_int;
    fn getpid() -> c_int;
    fn getppid() -> c_int;
    fn _exit(code: c_int) -> !;
    fn __errno_location() -> *mut c_int;
    fn signalfd(fd: c_int, mask: *const SigSet, flags: c_int) -> c_int;
    fn poll(fds: *mut PollFd, n: u64, timeout: c_int) -> c_int;
    fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, n: usize) -> isize;
    fn dup2(from: c_int, to: c_int) -> c_int;
}

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--relay") {
        relay();
    }
    let tty = args.first().is_some_and(|a| a == "--tty");
    if tty {
        args.remove(0);
    }
    let log = args.first().is_some_and(|a| a == "--log");
    if log {
        args.remove(0);
    }
    let Some(split) = args.iter().position(|a| a == "--") else { usage() };
    if split != 1 || args.len() < 3 {
        usage();
    }
    let cstr = |a: OsString| CString::new(a.into_vec()).unwrap_or_else(|_| usage());
    let mut args = args.into_iter();
    let program = cstr(args.next().unwrap_or_else(|| usage()));
    let argv: Vec<CString> = args.skip(1).map(cstr).collect();
    let mut argv_ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());

    // SAFETY: plain libc calls on valid pointers to stack or heap data that
    // outlives them; this process is single-threaded, so fork is safe, and the
    // child only makes async-signal-safe calls before exec.
    unsafe {
        let mut all = SigSet([0; 16]);
        sigfillset(&mut all);
        sigprocmask(SIG_SETMASK, &all, std::ptr::null_mut());
        fcntl(ERROR_FD, F_SETFD, FD_CLOEXEC);
        fcntl(RECORD_FD, F_SETFD, FD_CLOEXEC);
        // Nothing in the box may ptrace or read the memory of its init.
        prctl(PR_SET_DUMPABLE, 0 as c_long);
        // Exec'd from a memfd, the comm would read `memfd:stockade-`.
        prctl(PR_SET_NAME, c"stockade-init".as_ptr());
        let me = getpid();
        // [stdout read, stdout write, stderr read, stderr write]
        let mut pipes = [-1; 4];
        if log && (pipe2(pipes.as_mut_ptr(), O_CLOEXEC) < 0 || pipe2(pipes[2..].as_mut_ptr(), O_CLOEXEC) < 0) {
            report(*__errno_location());
        }
        let agent = fork();
        if agent < 0 {
            report(*__errno_location());
        }
        if agent == 0 {
            // The agent dies with this process: as the box's pid 1 that is
            // the namespace's end anyway; as an exec relay it makes killing
            // the relay kill the command.
            prctl(PR_SET_PDEATHSIG, SIGKILL as c_long);
            // Already orphaned? (An exec relay lives outside the box's pid
            // namespace, so its child sees parent 0 while it lives.)
            let parent = getppid();
            if parent != me && parent != 0 {
                _exit(137);
            }
            setsid();
            if log {
                dup2(pipes[1], 1);
                dup2(pipes[3], 2);
            }
            if tty {
                ioctl(0, TIOCSCTTY, 0 as c_long);
            }
            for sig in 1..65 {
                if sig != SIGKILL && sig != SIGSTOP {
                    signal(sig, 0); // SIG_DFL: undo the daemon's SIG_IGN for SIGPIPE
                }
            }
            let mut none = SigSet([0; 16]);
            sigemptyset(&mut none);
            sigprocmask(SIG_SETMASK, &none, std::ptr::null_mut());
            execv(program.as_ptr(), argv_ptrs.as_ptr());
            report(*__errno_location());
        }
        close(ERROR_FD);
        let mut pump = Pump::new(if log { [pipes[0], pipes[2]] } else { [-1, -1] });
        if log {
            close(pipes[1]);
            close(pipes[3]);
            log_record::start_marker(&mut pump.out, now_ns(), program.as_bytes());
            pump.write_out();
        }
        let sfd = signalfd(-1, &all, O_CLOEXEC | O_NONBLOCK);
        loop {
            for sig in pump.wait(sfd) {
                if sig == SIGCHLD {
                    loop {
                        let mut status: c_int = 0;
                        let pid = waitpid(-1, &mut status, WNOHANG);
                        if pid <= 0 {
                            break;
                        }
                        if pid == agent {
                            pump.drain();
                            finish(status);
                        }
                    }
                } else if sig > 0 {
                    kill(-agent, sig);
                }
            }
        }
    }
}

/// The unwalled relay: frame fd 0 (stdout) and fd 3 (stderr) into fd 1 until both close.
fn relay() -> ! {
    let mut pump = Pump::new([0, ERROR_FD]);
    log_record::start_marker(&mut pump.out, now_ns(), b"run");
    pump.write_out();
    while pump.open() {
        pump.wait(-1);
    }
    // SAFETY: _exit(2) ends the process.
    unsafe { _exit(0) }
}

/// Reads the agent's two pipes and appends framed records to the log.
struct Pump {
    fds: [c_int; 2],
    framer: Framer,
    out: Vec<u8>,
    buf: Vec<u8>,
}

impl Pump {
    fn new(fds: [c_int; 2]) -> Pump {
        for fd in fds.into_iter().filter(|&fd| fd >= 0) {
            // SAFETY: fcntl on an fd this process owns.
            unsafe { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) };
        }
        Pump { fds, framer: Framer::default(), out: Vec::with_capacity(2 * READ_CHUNK), buf: vec![0; READ_CHUNK] }
    }

    fn open(&self) -> bool {
        self.fds.iter().any(|&fd| fd >= 0)
    }

    /// Wait for output or a signal on `sfd` (-1: none); frame what arrived
    /// and return the signals that were pending.
    fn wait(&mut self, sfd: c_int) -> Vec<c_int> {
        let timeout = match self.framer.oldest() {
            Some(t) => ((t + HOLD_NS - now_ns()) / 1_000_000).clamp(0, 1000) as c_int + 1,
            None => -1,
        };
        let mut polls = [
            PollFd { fd: sfd, events: POLLIN, revents: 0 },
            PollFd { fd: self.fds[0], events: POLLIN, revents: 0 },
            PollFd { fd: self.fds[1], events: POLLIN, revents: 0 },
        ];
        // SAFETY: poll(2) over a live array; negative fds are ignored by the kernel.
        let n = unsafe { poll(polls.as_mut_ptr(), 3, timeout) };
        let mut signals = Vec::new();
        if n > 0 {
            for (i, stream) in [LogStream::Stdout, LogStream::Stderr].into_iter().enumerate() {
                if polls[i + 1].revents != 0 {
                    self.read_once(i, stream);
                }
            }
            if polls[0].revents != 0 {
                let mut info = [0u8; 128];
                // SAFETY: read(2) into a live 128-byte signalfd_siginfo buffer.
                while unsafe { read(sfd, info.as_mut_ptr().cast(), 128) } == 128 {
                    signals.push(u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as c_int);
                }
            }
        }
        self.framer.flush_old(now_ns(), &mut self.out);
        self.write_out();
        signals
    }

    /// Read one chunk of pipe `i`; at its end, flush its tail and close it.
    /// Returns whether more may be waiting.
    fn read_once(&mut self, i: usize, stream: LogStream) -> bool {
        let fd = self.fds[i];
        if fd < 0 {
            return false;
        }
        // SAFETY: read(2) into a live buffer of its length.
        let n = unsafe { read(fd, self.buf.as_mut_ptr().cast(), self.buf.len()) };
        if n > 0 {
            self.framer.feed(stream, now_ns(), &self.buf[..n as usize], &mut self.out);
            if self.out.len() >= READ_CHUNK {
                self.write_out();
            }
            return true;
        }
        if n < 0 {
            // SAFETY: errno of the read that just failed.
            match unsafe { *__errno_location() } {
                EINTR => return true,
                EAGAIN => return false, // nothing more for now
                _ => {}
            }
        }
        self.framer.flush(stream, &mut self.out);
        // SAFETY: closing the pipe this process owns.
        unsafe { close(fd) };
        self.fds[i] = -1;
        false
    }

    /// The agent is gone: take what is still in the pipes (a descendant
    /// may hold them open, so read only what is there) and write it.
    fn drain(&mut self) {
        for (i, stream) in [LogStream::Stdout, LogStream::Stderr].into_iter().enumerate() {
            while self.read_once(i, stream) {}
            self.framer.flush(stream, &mut self.out);
        }
        self.write_out();
    }

    fn write_out(&mut self) {
        let mut at = 0;
        while at < self.out.len() {
            // SAFETY: write(2) of a live buffer slice.
            let n = unsafe { write(LOG_FD, self.out[at..].as_ptr().cast(), self.out.len() - at) };
            if n > 0 {
                at += n as usize;
            } else if n < 0 && unsafe { *__errno_location() } == EINTR {
                continue;
            } else {
                break; // a full disk or a closed log: drop the output, never block the agent
            }
        }
        self.out.clear();
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Write the exit record and leave with the agent's code (or 128 + signal).
fn finish(status: c_int) -> ! {
    let signal = status & 0x7f;
    let (line, code) = if signal == 0 {
        let code = (status >> 8) & 0xff;
        (format!("exited {code}\n"), code)
    } else {
        let core = if status & 0x80 != 0 { " core" } else { "" };
        (format!("signaled {signal}{core}\n"), 128 + signal)
    };
    // SAFETY: write(2) of a live buffer; _exit(2) ends the process.
    unsafe {
        write(RECORD_FD, line.as_ptr().cast(), line.len());
        _exit(code)
    }
}

/// Tell the daemon why the agent could not be started, and give up.
fn report(errno: c_int) -> ! {
    let bytes = errno.to_ne_bytes();
    // SAFETY: write(2) of a live 4-byte buffer; _exit(2) ends the process.
    unsafe {
        write(ERROR_FD, bytes.as_ptr().cast(), 4);
        _exit(127)
    }
}

fn usage() -> ! {
    eprintln!("usage: stockade-init [--tty] [--log] PROGRAM -- ARGV... (started by the stockade daemon)");
    // SAFETY: _exit(2) ends the process.
    unsafe { _exit(2) }
}
