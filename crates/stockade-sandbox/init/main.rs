//! stockade-init: pid 1 of a walled box (and the relay of `Sandbox::exec`).
//!
//! Compiled by the sandbox crate's `build.rs` into a tiny static binary,
//! embedded in the daemon and exec'd from a sealed memfd, so it works on any
//! root tree and each box pays only its own small RSS.
//!
//! `stockade-init [--tty] PROGRAM -- ARGV...`, with the agent's environment as
//! its own, fd 3 the spawn-error pipe and fd 4 the exit record. It blocks every
//! signal, forks the agent (own session and process group, signal mask and
//! dispositions reset, `--tty`: the terminal on fd 0 becomes its controlling
//! terminal, SIGKILL if this process dies) and execs PROGRAM; an exec failure is reported as the errno (4
//! bytes, native endian) on fd 3, which otherwise closes on exec. Then it
//! loops on `sigwaitinfo`: every catchable signal but SIGCHLD goes to the
//! agent's process group; SIGCHLD reaps every zombie (it is pid 1). When the
//! agent is reaped it writes the agent's exact wait status as one line to fd 4
//! (`exited 3`, `signaled 9`, `signaled 11 core`) and exits with the agent's
//! code (or 128 + signal). The agent's code never runs in this process.

use std::ffi::{CString, OsString, c_char, c_int, c_long, c_void};
use std::os::unix::ffi::OsStringExt;

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

/// The kernel's sigset (glibc's `sigset_t` is 1024 bits).
#[repr(C)]
struct SigSet([u64; 16]);

unsafe extern "C" {
    fn sigfillset(set: *mut SigSet) -> c_int;
    fn sigemptyset(set: *mut SigSet) -> c_int;
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigwaitinfo(set: *const SigSet, info: *mut [u64; 16]) -> c_int;
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
}

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let tty = args.first().is_some_and(|a| a == "--tty");
    if tty {
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
        loop {
            let mut info = [0u64; 16];
            let sig = sigwaitinfo(&all, &mut info);
            if sig == SIGCHLD {
                loop {
                    let mut status: c_int = 0;
                    let pid = waitpid(-1, &mut status, WNOHANG);
                    if pid <= 0 {
                        break;
                    }
                    if pid == agent {
                        finish(status);
                    }
                }
            } else if sig > 0 {
                kill(-agent, sig);
            }
        }
    }
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
    eprintln!("usage: stockade-init [--tty] PROGRAM -- ARGV... (started by the stockade daemon)");
    // SAFETY: _exit(2) ends the process.
    unsafe { _exit(2) }
}
