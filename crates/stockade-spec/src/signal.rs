//! Signal names accepted by `stop.signal`, and their Linux numbers.

/// Linux signal numbers (x86_64 and aarch64 agree on all of these). Spelled out
/// here rather than taken from libc so the spec crate stays free of OS bindings.
pub(crate) const SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", 1),
    ("SIGINT", 2),
    ("SIGQUIT", 3),
    ("SIGILL", 4),
    ("SIGTRAP", 5),
    ("SIGABRT", 6),
    ("SIGBUS", 7),
    ("SIGFPE", 8),
    ("SIGKILL", 9),
    ("SIGUSR1", 10),
    ("SIGSEGV", 11),
    ("SIGUSR2", 12),
    ("SIGPIPE", 13),
    ("SIGALRM", 14),
    ("SIGTERM", 15),
    ("SIGSTKFLT", 16),
    ("SIGCHLD", 17),
    ("SIGCONT", 18),
    ("SIGSTOP", 19),
    ("SIGTSTP", 20),
    ("SIGTTIN", 21),
    ("SIGTTOU", 22),
    ("SIGURG", 23),
    ("SIGXCPU", 24),
    ("SIGXFSZ", 25),
    ("SIGVTALRM", 26),
    ("SIGPROF", 27),
    ("SIGWINCH", 28),
    ("SIGIO", 29),
    ("SIGPWR", 30),
    ("SIGSYS", 31),
];

/// The canonical name (`"SIGTERM"`) and number of a signal written as `"SIGTERM"`,
/// `"TERM"` or `"sigterm"`.
pub(crate) fn lookup(name: &str) -> Option<(&'static str, i32)> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    SIGNALS.iter().find(|(n, _)| *n == full).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_or_without_prefix_in_any_case() {
        assert_eq!(lookup("SIGTERM"), Some(("SIGTERM", 15)));
        assert_eq!(lookup("term"), Some(("SIGTERM", 15)));
        assert_eq!(lookup("SigInt"), Some(("SIGINT", 2)));
        assert_eq!(lookup("SIGTERMINATE"), None);
        assert_eq!(lookup("15"), None);
    }
}
