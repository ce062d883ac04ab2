//! Colour for people, never for files and pipes: states and causes are
//! painted only when stdout is a terminal, `NO_COLOR` is unset (no-color.org)
//! and `TERM` is not `dumb`. Everything else prints plain text, so a
//! redirected `stockade ps > file` holds no escape codes.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// An ANSI SGR colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Healthy: running, ready, succeeded.
    Green,
    /// On its way: starting, queued, backoff, stopping.
    Yellow,
    /// Wrong: failed, gave up, killed.
    Red,
    /// Done or off: stopped, cancelled.
    Dim,
    /// Read this first: a degraded cluster member's reason.
    Bold,
}

impl Paint {
    fn code(self) -> &'static str {
        match self {
            Paint::Green => "32",
            Paint::Yellow => "33",
            Paint::Red => "31",
            Paint::Dim => "2",
            Paint::Bold => "1",
        }
    }
}

/// Whether stdout gets colour.
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        decide(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            std::env::var("TERM").is_ok_and(|t| t == "dumb"),
        )
    })
}

/// Whether `stream` (stderr, say) gets colour, by the same rule.
pub fn enabled_on(stream: &impl IsTerminal) -> bool {
    decide(
        stream.is_terminal(),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        std::env::var("TERM").is_ok_and(|t| t == "dumb"),
    )
}

fn decide(terminal: bool, no_color: bool, dumb: bool) -> bool {
    terminal && !no_color && !dumb
}

/// The colour of a state word (`running`, `gave_up`, ...), if it has one.
pub fn of_state(state: &str) -> Option<Paint> {
    let word = state.split_whitespace().next().unwrap_or(state);
    Some(match word {
        "running" | "ready" | "succeeded" | "healthy" | "ok" | "live" => Paint::Green,
        "starting" | "pending" | "queued" | "backoff" | "stopping" | "cancelling" | "launching"
        | "blocked" | "warn" | "warning" | "draining" => Paint::Yellow,
        "failed" | "gave_up" | "expired" | "rejected" | "lost" | "unhealthy" | "fail"
        | "critical" => Paint::Red,
        "stopped" | "cancelled" | "down" | "left" => Paint::Dim,
        _ => return None,
    })
}

/// The colour of a cause or reason text: red when something was killed.
pub fn of_cause(text: &str) -> Option<Paint> {
    let lower = text.to_ascii_lowercase();
    ["oom", "killed", "signal", "crash", "gave up", "failed", "exit code", "timed out"]
        .iter()
        .any(|w| lower.contains(w))
        .then_some(Paint::Red)
}

/// `text` in `paint` when colour is on; else `text` as is.
pub fn paint(text: &str, paint: Option<Paint>) -> String {
    match paint {
        Some(p) if enabled() && !text.is_empty() => format!("\x1b[{}m{text}\x1b[0m", p.code()),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(decide(true, false, false));
        assert!(!decide(false, false, false), "a pipe or file gets no colour");
        assert!(!decide(true, true, false), "NO_COLOR wins");
        assert!(!decide(true, false, true), "TERM=dumb wins");
    }

    #[test]
    fn states_and_causes_have_colours() {
        assert_eq!(of_state("running"), Some(Paint::Green));
        assert_eq!(of_state("gave_up (exit code 1)"), Some(Paint::Red));
        assert_eq!(of_state("queued"), Some(Paint::Yellow));
        assert_eq!(of_cause("killed by OOM"), Some(Paint::Red));
        assert_eq!(of_cause("waiting for pool"), None);
    }
}
