//! One doctor check result (DESIGN.md §7a).

use serde::{Deserialize, Serialize};

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Within limits.
    Ok,
    /// Close to a limit, or a setting that will bite at scale.
    Warn,
    /// At or past a limit; work will fail.
    Fail,
    /// Could not be measured; `message` says why.
    Unknown,
}

/// One dimension the doctor measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Stable id, e.g. `threads`, `pid_max`, `nofile`.
    pub id: String,
    /// The verdict.
    pub status: CheckStatus,
    /// What was measured, as text ("5279").
    pub value: Option<String>,
    /// The limit it was measured against ("6337").
    pub limit: Option<String>,
    /// One sentence on what this means.
    pub message: String,
    /// The exact command or file line that fixes it.
    pub fix: Option<String>,
}
