//! Running as PID 1 (the first process of a container).
//!
//! PID 1 inherits every orphan and must reap it, and it receives the
//! container's stop signal. The daemon must never call `waitpid(-1)`: that
//! would steal the exit statuses tokio waits for through each child's pidfd.
//! So when `stockade up`/`daemon` finds itself PID 1, it forks first: the
//! parent stays PID 1 as a minimal init — it forwards signals to the daemon
//! and reaps whatever it inherits — and the child runs the daemon as usual.
//! The init exits with the daemon's status once the daemon is gone.

/// If this process is PID 1, fork: return in the child (the daemon); in the
/// parent, act as init and never return (exit with the daemon's status).
pub fn become_init_if_pid1() {
    // SAFETY: getpid has no preconditions.
    if unsafe { libc::getpid() } != 1 {
        return;
    }
    let forwarded =
        [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];
    // SAFETY: called at the very start of main, before any thread exists, so
    // fork is safe; the sets and masks are plain local values.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in forwarded.iter().chain([libc::SIGCHLD].iter()) {
            libc::sigaddset(&mut set, *signal);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        let daemon = libc::fork();
        if daemon < 0 {
            // Cannot fork: run the daemon as PID 1 anyway (orphans will not be reaped).
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            eprintln!("stockade: running as PID 1 but fork failed; orphans will not be reaped");
            return;
        }
        if daemon == 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            return;
        }
        std::process::exit(i32::from(init_loop(daemon, &set)));
    }
}

/// Forward signals to `daemon` and reap every child until `daemon` exits.
unsafe fn init_loop(daemon: libc::pid_t, set: &libc::sigset_t) -> u8 {
    loop {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid, initialized signal set; `info` is writable.
        let signal = unsafe { libc::sigwaitinfo(set, &mut info) };
        if signal < 0 {
            continue;
        }
        if signal != libc::SIGCHLD {
            // SAFETY: kill on the daemon's pid, which this process forked.
            unsafe { libc::kill(daemon, signal) };
            continue;
        }
        loop {
            let mut status = 0;
            // SAFETY: this process is init; reaping any child is its job.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == daemon {
                return if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status) as u8
                } else {
                    128u8.wrapping_add(libc::WTERMSIG(status) as u8)
                };
            }
        }
    }
}
