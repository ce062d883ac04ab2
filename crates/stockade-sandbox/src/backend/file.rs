//! Reading and writing cgroupfs files: single numbers, `max`, flat keyed files
//! (`oom_kill 3`), and pid lists. Plain `std::fs`: cgroupfs is in memory, so a
//! read never blocks on a disk.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::SandboxError;

/// Write `value` to the file at `path` in one `write(2)` (the kernel parses
/// each write on its own, so a split write would be two values).
pub(crate) fn write(path: &Path, value: &str) -> Result<(), SandboxError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(false)
        .open(path)
        .map_err(|e| SandboxError::io("open for writing", path, e))?;
    file.write_all(value.as_bytes()).map_err(|e| SandboxError::io("write", path, e))
}

/// Refuse a cgroup directory (or file) this process may not write: a
/// non-root daemon finds stockade's parent made by a root one (mkdir -p
/// succeeds on it) and would otherwise fail every spawn with EACCES. The
/// check uses the effective ids, as the kernel will.
pub(crate) fn require_writable(path: &Path, wanted: &'static str) -> Result<(), SandboxError> {
    use rustix::fs::{Access, AtFlags, CWD, accessat};
    let access = if path.is_dir() { Access::WRITE_OK | Access::EXEC_OK } else { Access::WRITE_OK };
    match accessat(CWD, path, access, AtFlags::EACCESS) {
        Ok(()) => Ok(()),
        Err(errno) => {
            use std::os::unix::fs::MetadataExt;
            let owner = fs::metadata(path)
                .map(|m| format!("owned by uid {} mode {:o}", m.uid(), m.mode() & 0o7777))
                .unwrap_or_else(|e| e.to_string());
            Err(SandboxError::BackendUnavailable {
                wanted,
                reason: format!(
                    "{} is not writable by uid {} ({owner}): {errno}",
                    path.display(),
                    rustix::process::geteuid().as_raw()
                ),
                hint: "run the daemon as root, or give it a cgroup subtree of its own (a delegated cgroup v2 subtree: systemd-run --user --scope -p Delegate=yes)",
            })
        }
    }
}

/// The whole file as text.
pub(crate) fn read(path: &Path) -> Result<String, SandboxError> {
    fs::read_to_string(path).map_err(|e| SandboxError::io("read", path, e))
}

/// A file holding one number; `max` reads as `None`.
pub(crate) fn read_u64(path: &Path) -> Result<Option<u64>, SandboxError> {
    let text = read(path)?;
    parse_u64(text.trim()).ok_or_else(|| unparsable(path, &text))
}

/// The value of `key` in a flat keyed file (`key value` per line).
pub(crate) fn read_key(path: &Path, key: &str) -> Result<u64, SandboxError> {
    let text = read(path)?;
    keyed(&text, key).ok_or_else(|| unparsable(path, &text))
}

/// The pids listed in a `cgroup.procs` file.
pub(crate) fn read_pids(path: &Path) -> Result<Vec<u32>, SandboxError> {
    let text = read(path)?;
    Ok(text.split_whitespace().filter_map(|p| p.parse().ok()).collect())
}

/// `max` → `None`, a number → `Some`, else nothing parsed.
fn parse_u64(text: &str) -> Option<Option<u64>> {
    if text == "max" { Some(None) } else { text.parse().ok().map(Some) }
}

/// The value of `key` in flat keyed text.
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next() == Some(key)).then(|| parts.next()?.parse().ok()).flatten()
    })
}

fn unparsable(path: &Path, text: &str) -> SandboxError {
    SandboxError::io(
        "parse",
        path,
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unexpected content {:?}", text.trim()),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files_and_max_parse() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed(text, "oom_kill"), Some(3));
        assert_eq!(keyed(text, "under_oom"), Some(0));
        assert_eq!(keyed(text, "missing"), None);
        assert_eq!(parse_u64("max"), Some(None));
        assert_eq!(parse_u64("42"), Some(Some(42)));
        assert_eq!(parse_u64("x"), None);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.peak");
        let err = read_u64(&path).unwrap_err().to_string();
        assert!(err.contains("memory.peak"), "{err}");
        fs::write(&path, "garbage\n").unwrap();
        let err = read_u64(&path).unwrap_err().to_string();
        assert!(err.contains("memory.peak") && err.contains("garbage"), "{err}");
        fs::write(&path, "1234\n").unwrap();
        assert_eq!(read_u64(&path).unwrap(), Some(1234));
    }
}
