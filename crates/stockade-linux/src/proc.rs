//! Small `/proc` readers written once: a process's `stat` ([`PidStat`]), a
//! field of its `status` ([`status_number`]), the boot time from
//! `/proc/stat` ([`boot_time_ms`]), the host's task count from
//! `/proc/loadavg` ([`Tasks`]) and the clock tick the kernel counts in.
//!
//! Parsers take the file's text, so tests feed them strings; `read_*`
//! helpers take a proc root (`/proc`, or a fixture directory).

use std::io;
use std::path::Path;

/// The fields of `/proc/<pid>/stat` stockade uses (proc(5) numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidStat {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    /// Field 4: the parent's pid.
    pub ppid: u32,
    /// Field 14: user CPU time, in clock ticks.
    pub utime: u64,
    /// Field 15: system CPU time, in clock ticks.
    pub stime: u64,
    /// Field 22: when the process started, in clock ticks after boot.
    pub starttime: u64,
}

impl PidStat {
    /// A zombie or dead process: it has exited, only its entry is left.
    pub fn has_exited(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Parse `/proc/<pid>/stat`. The command name (field 2) is in parentheses
/// and may hold spaces and `)`, so fields are counted after the *last* `)`.
pub fn parse_pid_stat(text: &str) -> Option<PidStat> {
    let (_, rest) = text.rsplit_once(')')?;
    // After `)`, field 3 (state) is the first word: field N is word N - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let number = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some(PidStat {
        state: fields.first()?.chars().next()?,
        ppid: u32::try_from(number(4)?).ok()?,
        utime: number(14)?,
        stime: number(15)?,
        starttime: number(22)?,
    })
}

/// Read and parse `<proc_root>/<pid>/stat`.
pub fn read_pid_stat(proc_root: &Path, pid: u32) -> io::Result<PidStat> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat"))?;
    parse_pid_stat(&text)
        .ok_or_else(|| io::Error::other(format!("/proc/{pid}/stat is not in the stat format")))
}

/// The first word after `Key:` on the `Key:` line of a `status` file
/// (`Threads:\t6` → `"6"`, `Uid:\t1000\t1000…` → `"1000"`, the real id).
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
}

/// [`status_field`] as a decimal number (`VmRSS` is in KiB, as written).
pub fn status_number(status: &str, key: &str) -> Option<u64> {
    status_field(status, key)?.parse().ok()
}

/// When this boot began, unix milliseconds (`btime` in `/proc/stat`, whose
/// resolution is a second).
pub fn boot_time_ms(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<u64>().ok()))
        .map(|s| s * 1000)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, `USER_HZ`), the unit of
/// `utime`, `stime` and `starttime`.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf(3) has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as u64 } else { 100 }
}

/// The fourth field of `/proc/loadavg`: tasks (threads) on the host.
///
/// Summing `Threads:` over every `/proc/[pid]/status` is what `ps -eo nlwp`
/// does and costs one open per process. The kernel already keeps the count:
/// `total` is `nr_threads`, every task that exists. Each of them holds a
/// pid, so the same number is measured against `kernel.threads-max` and
/// `kernel.pid_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tasks {
    /// Tasks runnable right now.
    pub running: u64,
    /// Tasks that exist (threads of every process, kernel threads included).
    pub total: u64,
}

/// Parse `0.11 0.38 0.20 1/87 8212`; `None` when the line has another shape.
pub fn parse_loadavg(text: &str) -> Option<Tasks> {
    let field = text.split_whitespace().nth(3)?;
    let (running, total) = field.split_once('/')?;
    Some(Tasks { running: running.parse().ok()?, total: total.parse().ok()? })
}

/// Tasks (threads) of the processes owned by `uid`, summed over
/// `<proc_root>/<pid>/status`: one open per process, so only for the rare
/// moment after a failed spawn, never on a hot path.
pub fn user_tasks(proc_root: &Path, uid: u32) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(proc_root) else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .map(|e| {
            std::fs::read_to_string(e.path().join("status"))
                .ok()
                .and_then(|s| status_number(&s, "Threads"))
                .unwrap_or(1)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line, with a command name holding a space and a `)`.
    const STAT: &str = "4242 (my prog) x) S 1 4242 4242 0 -1 4194560 300 0 0 0 17 5 0 0 20 0 3 0 123456 10485760 512 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_count_after_the_last_paren() {
        let stat = parse_pid_stat(STAT).unwrap();
        assert_eq!(stat, PidStat { state: 'S', ppid: 1, utime: 17, stime: 5, starttime: 123_456 });
        assert!(!stat.has_exited());
        let zombie = STAT.replace(") S 1", ") Z 1");
        assert!(parse_pid_stat(&zombie).unwrap().has_exited());
        assert_eq!(parse_pid_stat("4242 (short) S 1 2"), None);
        assert_eq!(parse_pid_stat(""), None);
    }

    #[test]
    fn this_process_reads_itself() {
        let pid = std::process::id();
        let stat = read_pid_stat(Path::new("/proc"), pid).unwrap();
        assert_eq!(
            stat.ppid,
            rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32)
        );
        assert!(stat.starttime > 0);
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(status_number(&status, "Threads").is_some_and(|n| n >= 1));
        let boot = boot_time_ms(&std::fs::read_to_string("/proc/stat").unwrap()).unwrap();
        assert!(boot > 1_000_000_000_000, "{boot}");
        assert!(clock_ticks_per_second() > 0);
        assert!(read_pid_stat(Path::new("/nonexistent"), pid).is_err());
    }

    #[test]
    fn status_fields_take_the_first_word() {
        let status =
            "Name:\tstockade\nUid:\t1000\t1001\t1002\t1003\nVmRSS:\t   12345 kB\nThreads:\t6\n";
        assert_eq!(status_field(status, "Name"), Some("stockade"));
        assert_eq!(status_number(status, "Uid"), Some(1000));
        assert_eq!(status_number(status, "VmRSS"), Some(12345));
        assert_eq!(status_number(status, "Threads"), Some(6));
        assert_eq!(status_number(status, "Thread"), None);
        assert_eq!(status_number(status, "Missing"), None);
    }

    #[test]
    fn boot_time_is_btime_in_milliseconds() {
        assert_eq!(
            boot_time_ms("cpu 1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000_000)
        );
        assert_eq!(boot_time_ms("cpu 1 2 3\n"), None);
    }

    #[test]
    fn the_fourth_field_of_loadavg_is_running_over_total() {
        let tasks = parse_loadavg("0.11 0.38 0.20 1/87 8212\n").unwrap();
        assert_eq!(tasks, Tasks { running: 1, total: 87 });
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("0.1 0.2 0.3"), None);
        assert_eq!(parse_loadavg("0.1 0.2 0.3 87 1"), None);
        assert_eq!(parse_loadavg("0.1 0.2 0.3 x/87 1"), None);
    }

    #[test]
    fn user_tasks_sums_threads_of_the_uid() {
        let proc = tempfile::tempdir().unwrap();
        for (pid, threads) in [("10", "3"), ("11", "5")] {
            std::fs::create_dir(proc.path().join(pid)).unwrap();
            std::fs::write(proc.path().join(pid).join("status"), format!("Threads:\t{threads}\n"))
                .unwrap();
        }
        std::fs::create_dir(proc.path().join("self")).unwrap();
        let uid = rustix::process::getuid().as_raw();
        assert_eq!(user_tasks(proc.path(), uid), 8);
        assert_eq!(user_tasks(proc.path(), uid.wrapping_add(12345)), 0);
    }
}
