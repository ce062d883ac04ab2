//! The config lint: `/etc/security/limits.conf` (+ `limits.d/*.conf`) and
//! `/etc/sysctl.conf` (+ `sysctl.d/*.conf`), read in the order their readers
//! use, for the mistakes that silently do nothing — the field report's
//! `noproc`, `nofiles`, a missing `*` — and for values that never took effect.
//!
//! Each problem is a [`LintFinding`] with `file:line`; [`lint_checks`] turns
//! them into doctor [`Check`]s (ids `limits_conf` and `sysctl_conf`).

mod limits_conf;
mod spelling;
mod sysctl_conf;

pub use limits_conf::lint_limits;
pub use sysctl_conf::lint_sysctl;

use crate::HostRoot;
use serde::Serialize;
use std::path::{Path, PathBuf};
use stockade_proto::{Check, CheckStatus};

/// One problem in one line of a config file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LintFinding {
    /// The file, as on the host (`/etc/security/limits.conf`).
    pub file: String,
    /// The 1-based line; 0 for the file as a whole.
    pub line: usize,
    /// `fail`: the line does nothing or something else than meant; `warn`:
    /// it works but not as it reads; `unknown`: the file could not be read.
    pub status: CheckStatus,
    /// What is wrong.
    pub message: String,
    /// The corrected line or the command that applies it.
    pub fix: Option<String>,
}

impl LintFinding {
    /// `file:line` (or just `file` for whole-file findings).
    pub fn location(&self) -> String {
        if self.line == 0 { self.file.clone() } else { format!("{}:{}", self.file, self.line) }
    }
}

/// Lint both families and report them as doctor checks: one check per
/// finding, or one `ok` check per family when it is clean.
pub fn lint_checks(root: &HostRoot) -> Vec<Check> {
    let mut checks = Vec::new();
    for (id, what, (files, findings)) in [
        ("limits_conf", "limits.conf", lint_limits(root)),
        ("sysctl_conf", "sysctl.conf", lint_sysctl(root)),
    ] {
        if findings.is_empty() {
            checks.push(Check {
                id: id.into(),
                status: CheckStatus::Ok,
                value: Some(format!("{files} files")),
                limit: None,
                message: format!("no problems in {what} and its .d directory"),
                fix: None,
            });
        }
        checks.extend(findings.into_iter().map(|f| Check {
            id: id.into(),
            status: f.status,
            value: Some(f.location()),
            limit: None,
            message: f.message,
            fix: f.fix,
        }));
    }
    checks
}

/// `dir/*.conf` sorted by name, as both pam_limits and `sysctl --system` read
/// them; also returns the other files there, which both readers ignore.
fn conf_files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut conf = Vec::new();
    let mut ignored = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "conf") {
                conf.push(path);
            } else if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("README")) {
                ignored.push(path);
            }
        }
    }
    conf.sort();
    ignored.sort();
    (conf, ignored)
}

/// The lines of a file without comments, numbered from 1; `Err` is a finding.
fn read_lines(root: &HostRoot, path: &Path) -> Result<Vec<(usize, String)>, LintFinding> {
    let text = std::fs::read(path).map_err(|e| LintFinding {
        file: root.display(path),
        line: 0,
        status: CheckStatus::Unknown,
        message: format!("cannot read: {}", crate::probe::io_reason(&e)),
        fix: None,
    })?;
    let text = String::from_utf8_lossy(&text);
    Ok(text.lines().enumerate().map(|(i, l)| (i + 1, l.to_string())).collect())
}
