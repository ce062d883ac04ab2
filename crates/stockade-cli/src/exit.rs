//! Exit codes and how errors are printed.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the command failed (the message says why) |
//! | 2 | bad usage or an invalid spec |
//! | 3 | the daemon is not reachable |

use std::process::ExitCode;

/// The command failed.
pub const FAILED: u8 = 1;
/// Bad usage or an invalid spec.
pub const USAGE: u8 = 2;
/// The daemon is not reachable.
pub const UNREACHABLE: u8 = 3;

/// An error that carries its own exit code and hint.
#[derive(Debug)]
pub struct Fail {
    /// The exit code.
    pub code: u8,
    /// What went wrong.
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fail {}

/// Build a [`Fail`] as an `anyhow::Error`.
pub fn fail(
    code: u8,
    message: impl Into<String>,
    hint: impl Into<Option<String>>,
) -> anyhow::Error {
    anyhow::Error::new(Fail { code, message: message.into(), hint: hint.into() })
}

/// Print `stockade: <what>` (with the context chain) and a hint; pick the code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    if err.downcast_ref::<stockade_store::StoreError>().is_some() {
        // Store errors carry their hint inline ("...; hint: ..."): print it on
        // its own line like every other hint.
        let text = format!("{err:#}");
        let (what, hint) = text.split_once("; hint: ").unwrap_or((&text, ""));
        eprintln!("stockade: {what}");
        if !hint.is_empty() {
            eprintln!("  hint: {hint}");
        }
        return ExitCode::from(FAILED);
    }
    match err.downcast_ref::<Fail>() {
        Some(fail) => {
            eprintln!("stockade: {}", fail.message);
            if let Some(hint) = &fail.hint {
                eprintln!("  hint: {hint}");
            }
            ExitCode::from(fail.code)
        }
        None if err.downcast_ref::<stockade_daemon::PreflightError>().is_some() => {
            eprintln!("stockade: {err}");
            eprintln!("  hint: nothing was started; fix these and run again");
            ExitCode::from(USAGE)
        }
        None => {
            eprintln!("stockade: {err:#}");
            ExitCode::from(FAILED)
        }
    }
}
