//! Pressure stall information (PSI) from `/proc/pressure/{cpu,memory,io}`.
//!
//! PSI is optional: kernels built with `CONFIG_PSI_DEFAULT_DISABLED` have no
//! `/proc/pressure` unless booted with `psi=1` (this project's hosts are such
//! kernels). [`read_pressure`] says so with [`PressureError::Unsupported`]
//! so callers report "unknown" rather than "no pressure".

use std::path::{Path, PathBuf};

/// One `some` or `full` line: percentages of wall time stalled, and the
/// total stall time in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PsiLine {
    /// Average over the last 10 s, in percent.
    pub avg10: f64,
    /// Average over the last 60 s, in percent.
    pub avg60: f64,
    /// Average over the last 300 s, in percent.
    pub avg300: f64,
    /// Total stall time, in microseconds.
    pub total: u64,
}

/// One resource's file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PsiResource {
    /// Some task was stalled.
    pub some: PsiLine,
    /// Every non-idle task was stalled (absent for cpu on kernels before 5.13).
    pub full: Option<PsiLine>,
}

/// The three PSI files.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pressure {
    /// `/proc/pressure/cpu`.
    pub cpu: PsiResource,
    /// `/proc/pressure/memory`.
    pub memory: PsiResource,
    /// `/proc/pressure/io`.
    pub io: PsiResource,
}

/// Why PSI could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PressureError {
    /// The kernel has no PSI (or it is switched off).
    #[error("{path} is missing: this kernel has PSI switched off; boot with `psi=1` to enable it")]
    Unsupported {
        /// The file that was missing.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read {path}; check that /proc is mounted and readable")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file did not have the `some avg10=.. avg60=.. avg300=.. total=..` shape.
    #[error("cannot parse {path}: unexpected line {line:?}; is this a PSI file?")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line that did not parse.
        line: String,
    },
}

/// Read the three PSI files under `proc_root` (normally `/proc`).
pub fn read_pressure(proc_root: &Path) -> Result<Pressure, PressureError> {
    let dir = proc_root.join("pressure");
    Ok(Pressure {
        cpu: read_resource(&dir.join("cpu"))?,
        memory: read_resource(&dir.join("memory"))?,
        io: read_resource(&dir.join("io"))?,
    })
}

fn read_resource(path: &Path) -> Result<PsiResource, PressureError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        // EOPNOTSUPP: the file exists but PSI was disabled at boot.
        if source.kind() == std::io::ErrorKind::NotFound
            || source.raw_os_error() == Some(libc_eopnotsupp())
        {
            PressureError::Unsupported { path: path.to_path_buf() }
        } else {
            PressureError::Read { path: path.to_path_buf(), source }
        }
    })?;
    parse_resource(&text).map_err(|line| PressureError::Parse { path: path.to_path_buf(), line })
}

fn libc_eopnotsupp() -> i32 {
    rustix::io::Errno::OPNOTSUPP.raw_os_error()
}

/// Parse one PSI file; `Err` carries the offending line.
pub fn parse_resource(text: &str) -> Result<PsiResource, String> {
    let mut some = None;
    let mut full = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (kind, rest) = line.split_once(' ').ok_or_else(|| line.to_string())?;
        let parsed = parse_line(rest).ok_or_else(|| line.to_string())?;
        match kind {
            "some" => some = Some(parsed),
            "full" => full = Some(parsed),
            _ => return Err(line.to_string()),
        }
    }
    Ok(PsiResource { some: some.ok_or_else(|| "no `some` line".to_string())?, full })
}

fn parse_line(rest: &str) -> Option<PsiLine> {
    let mut line = PsiLine::default();
    for pair in rest.split_whitespace() {
        let (key, value) = pair.split_once('=')?;
        match key {
            "avg10" => line.avg10 = value.parse().ok()?,
            "avg60" => line.avg60 = value.parse().ok()?,
            "avg300" => line.avg300 = value.parse().ok()?,
            "total" => line.total = value.parse().ok()?,
            _ => {}
        }
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMORY: &str = "some avg10=0.68 avg60=0.50 avg300=0.77 total=6433856\n\
                          full avg10=0.62 avg60=0.44 avg300=0.71 total=6048225\n";

    #[test]
    fn some_and_full_lines_parse() {
        let r = parse_resource(MEMORY).unwrap();
        assert_eq!(r.some.avg10, 0.68);
        assert_eq!(r.some.total, 6433856);
        assert_eq!(r.full.unwrap().avg300, 0.71);
        let cpu = parse_resource("some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n").unwrap();
        assert_eq!(cpu.full, None);
    }

    #[test]
    fn garbage_names_the_line() {
        assert_eq!(parse_resource("some avg10=x\n").unwrap_err(), "some avg10=x");
        assert_eq!(parse_resource("partial avg10=1\n").unwrap_err(), "partial avg10=1");
        assert!(parse_resource("").is_err());
    }

    #[test]
    fn a_kernel_without_psi_is_unsupported_not_zero() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_pressure(dir.path()).unwrap_err();
        assert!(matches!(err, PressureError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("psi=1"));
    }

    #[test]
    fn the_real_proc_reads_when_psi_is_on() {
        match read_pressure(Path::new("/proc")) {
            Ok(p) => assert!(p.memory.some.avg10 >= 0.0 && p.memory.some.avg10 <= 100.0),
            Err(PressureError::Unsupported { .. }) => eprintln!("skip: this kernel has no PSI"),
            Err(e) => panic!("{e}"),
        }
    }
}
