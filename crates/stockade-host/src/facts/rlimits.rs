//! The daemon's own rlimits and uid, from `/proc/self/limits` and
//! `/proc/self/status`: `RLIMIT_NPROC` counts every task of the uid host-wide,
//! `RLIMIT_NOFILE` caps the daemon's fds (about four per agent).

/// One rlimit. `None` means `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// The soft limit, which the kernel enforces.
    pub soft: Option<u64>,
    /// The hard limit, the ceiling the soft limit may be raised to without privilege.
    pub hard: Option<u64>,
}

/// The two rlimits the doctor checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessLimits {
    /// `Max processes` (`RLIMIT_NPROC`, `ulimit -u`).
    pub nproc: Option<Rlimit>,
    /// `Max open files` (`RLIMIT_NOFILE`, `ulimit -n`).
    pub nofile: Option<Rlimit>,
}

/// Parse `/proc/self/limits`. A missing row is `None`, so a truncated file
/// still yields what it has.
pub fn parse_limits(text: &str) -> ProcessLimits {
    ProcessLimits { nproc: row(text, "Max processes"), nofile: row(text, "Max open files") }
}

fn row(text: &str, name: &str) -> Option<Rlimit> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let mut fields = line[name.len()..].split_whitespace();
    Some(Rlimit { soft: value(fields.next()?)?, hard: value(fields.next()?)? })
}

/// `Some(None)` for unlimited, `Some(Some(n))` for a number, `None` for garbage.
fn value(field: &str) -> Option<Option<u64>> {
    if field == "unlimited" { Some(None) } else { field.parse().ok().map(Some) }
}

/// The real uid from a `/proc/<pid>/status` text (`Uid:\treal\teffective\t...`).
pub fn parse_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line["Uid:".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max processes             96365                96365                processes 
Max open files            20000                40000                files     
";

    #[test]
    fn rows_with_spaces_in_their_names_parse() {
        let limits = parse_limits(LIMITS);
        assert_eq!(limits.nproc, Some(Rlimit { soft: Some(96365), hard: Some(96365) }));
        assert_eq!(limits.nofile, Some(Rlimit { soft: Some(20000), hard: Some(40000) }));
    }

    #[test]
    fn unlimited_is_none_and_missing_rows_are_absent() {
        let limits = parse_limits("Max processes  unlimited  unlimited  processes\n");
        assert_eq!(limits.nproc, Some(Rlimit { soft: None, hard: None }));
        assert_eq!(limits.nofile, None);
        assert_eq!(parse_limits("Max open files  lots  1\n").nofile, None);
    }

    #[test]
    fn uid_is_the_first_field() {
        assert_eq!(parse_uid("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(parse_uid("Name:\tx\n"), None);
    }
}
