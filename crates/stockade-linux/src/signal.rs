//! A typed [`Signal`]: the standard Linux signals, name ⇄ number, from one
//! table. The spec parses `stop.signal` with it, post-mortems name the
//! signal that killed a run with it, and the engine sends it.

use std::fmt;
use std::str::FromStr;

/// One standard Linux signal (1–31). Realtime signals have no names and
/// are not representable; [`Signal::name_of`] answers `None` for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

/// The one table: every standard signal, its number from libc (the numbers
/// differ between architectures for a few, e.g. SIGSTKFLT and SIGPWR).
const TABLE: &[(&str, i32)] = &[
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGABRT", libc::SIGABRT),
    ("SIGBUS", libc::SIGBUS),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGSTKFLT", libc::SIGSTKFLT),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGPROF", libc::SIGPROF),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGIO", libc::SIGIO),
    ("SIGPWR", libc::SIGPWR),
    ("SIGSYS", libc::SIGSYS),
];

impl Signal {
    /// SIGTERM, the default stop signal.
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// SIGKILL, which cannot be caught.
    pub const KILL: Signal = Signal(libc::SIGKILL);
    /// SIGINT (Ctrl-C).
    pub const INT: Signal = Signal(libc::SIGINT);
    /// SIGHUP.
    pub const HUP: Signal = Signal(libc::SIGHUP);

    /// The signal with this number, if it is a standard one.
    pub fn from_number(number: i32) -> Option<Signal> {
        TABLE.iter().any(|(_, n)| *n == number).then_some(Signal(number))
    }

    /// The signal written as `SIGTERM`, `TERM` or `sigterm` (surrounding
    /// white space ignored). Numbers are not names: `"15"` is refused.
    pub fn from_name(name: &str) -> Option<Signal> {
        let upper = name.trim().to_ascii_uppercase();
        let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
        TABLE.iter().find(|(n, _)| *n == full).map(|(_, number)| Signal(*number))
    }

    /// The number, as `kill(2)` takes it.
    pub fn number(self) -> i32 {
        self.0
    }

    /// The canonical name, `"SIGTERM"`.
    pub fn name(self) -> &'static str {
        TABLE.iter().find(|(_, n)| *n == self.0).map_or("SIG?", |(name, _)| name)
    }

    /// The canonical name of signal `number`, if it is a standard one.
    pub fn name_of(number: i32) -> Option<&'static str> {
        Signal::from_number(number).map(Signal::name)
    }

    /// Every standard signal, in number order.
    pub fn all() -> impl Iterator<Item = Signal> {
        TABLE.iter().map(|(_, n)| Signal(*n))
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no standard signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal {name:?}: use a name such as SIGTERM, TERM or SIGINT")]
pub struct UnknownSignal {
    /// What was written.
    pub name: String,
}

impl FromStr for Signal {
    type Err = UnknownSignal;

    fn from_str(name: &str) -> Result<Signal, UnknownSignal> {
        Signal::from_name(name).ok_or_else(|| UnknownSignal { name: name.to_string() })
    }
}

impl TryFrom<i32> for Signal {
    type Error = i32;

    /// The standard signal with this number; the number back when there is none.
    fn try_from(number: i32) -> Result<Signal, i32> {
        Signal::from_number(number).ok_or(number)
    }
}

impl From<Signal> for i32 {
    fn from(signal: Signal) -> i32 {
        signal.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_or_without_prefix_in_any_case() {
        assert_eq!(Signal::from_name("SIGTERM"), Some(Signal::TERM));
        assert_eq!(Signal::from_name("term"), Some(Signal::TERM));
        assert_eq!(Signal::from_name(" SigInt "), Some(Signal::INT));
        assert_eq!("kill".parse::<Signal>(), Ok(Signal::KILL));
        assert_eq!(Signal::TERM.number(), 15);
        assert_eq!(Signal::KILL.to_string(), "SIGKILL");
    }

    #[test]
    fn unknown_names_and_numbers_are_refused() {
        assert_eq!(Signal::from_name("SIGTERMINATE"), None);
        assert_eq!(Signal::from_name("15"), None);
        assert_eq!(Signal::from_name(""), None);
        let err = "SIGNOPE".parse::<Signal>().unwrap_err();
        assert!(err.to_string().contains("\"SIGNOPE\""), "{err}");
        assert_eq!(Signal::from_number(0), None);
        assert_eq!(Signal::from_number(34), None, "realtime signals have no name");
        assert_eq!(Signal::try_from(-1), Err(-1));
        assert_eq!(Signal::name_of(64), None);
    }

    #[test]
    fn every_signal_round_trips_through_name_and_number() {
        let all: Vec<Signal> = Signal::all().collect();
        assert_eq!(all.len(), 31);
        for signal in all {
            assert_eq!(Signal::from_name(signal.name()), Some(signal), "{signal}");
            assert_eq!(Signal::from_number(signal.number()), Some(signal), "{signal}");
            assert_eq!(Signal::try_from(i32::from(signal)), Ok(signal));
            let short = signal.name().trim_start_matches("SIG").to_lowercase();
            assert_eq!(short.parse::<Signal>(), Ok(signal));
        }
        // The numbers the kernel uses on x86_64 and aarch64.
        assert_eq!(Signal::name_of(9), Some("SIGKILL"));
        assert_eq!(Signal::name_of(11), Some("SIGSEGV"));
        assert_eq!(Signal::name_of(6), Some("SIGABRT"));
    }
}
