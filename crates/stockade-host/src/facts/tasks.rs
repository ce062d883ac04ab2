//! Tasks (threads) alive on the host, from `/proc/loadavg`.
//!
//! Summing `Threads:` over every `/proc/[pid]/status` is what `ps -eo nlwp`
//! does and costs one open per process. The kernel already keeps the count:
//! the fourth field of `/proc/loadavg` is `running/total`, where `total` is
//! `nr_threads`, every task (thread) that exists. Each of them holds a pid,
//! so the same number is measured against `kernel.threads-max` and
//! `kernel.pid_max`.

/// The fourth field of `/proc/loadavg`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fourth_field_is_running_over_total() {
        let tasks = parse_loadavg("0.11 0.38 0.20 1/87 8212\n").unwrap();
        assert_eq!(tasks, Tasks { running: 1, total: 87 });
        let tasks = parse_loadavg("9.00 8.00 7.00 12/5279 123456").unwrap();
        assert_eq!(tasks.total, 5279);
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("0.1 0.2 0.3"), None);
        assert_eq!(parse_loadavg("0.1 0.2 0.3 87 1"), None);
        assert_eq!(parse_loadavg("0.1 0.2 0.3 x/87 1"), None);
    }
}
