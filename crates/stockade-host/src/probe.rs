//! A fact that may be unknown. Containers hide parts of `/proc` and `/sys`, and
//! some kernels lack PSI, so every measured fact is a [`Probe`]: the value, or an
//! [`Unknown`] saying what could not be read and why. Checks turn an `Unknown`
//! into a `unknown` verdict instead of failing the whole doctor run.

use crate::HostRoot;
use std::path::Path;

/// Why a fact could not be measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct Unknown {
    /// The file or fact that was asked for (`/proc/loadavg`).
    pub what: String,
    /// Why it is unknown (`No such file or directory`, `no line "Max processes"`).
    pub reason: String,
}

impl Unknown {
    /// An unknown with the path (or fact name) and the reason.
    pub fn new(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Unknown { what: what.into(), reason: reason.into() }
    }
}

/// A measured value, or why it could not be measured.
pub type Probe<T> = Result<T, Unknown>;

/// Read a whole (small, in-memory) procfs/sysfs file as text. The error names
/// the file as a user would (`/proc/loadavg`), not the fixture path.
pub(crate) fn read_text(root: &HostRoot, path: &Path) -> Probe<String> {
    std::fs::read_to_string(path).map_err(|e| Unknown::new(root.display(path), io_reason(&e)))
}

/// Read a file holding one unsigned number (most sysctls).
pub(crate) fn read_u64(root: &HostRoot, path: &Path) -> Probe<u64> {
    let text = read_text(root, path)?;
    text.trim()
        .parse()
        .map_err(|_| Unknown::new(root.display(path), format!("not a number: {:?}", text.trim())))
}

/// An I/O error as a short lowercase reason, without the `(os error N)` tail
/// that differs nowhere useful.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "missing (hidden by a container, or not this kernel)".into()
        }
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
