//! Limit validation and the conversions to kernel units, done before the kernel
//! is touched so a bad value never leaves a half-made box behind.

use stockade_proto::Limits;

use crate::SandboxError;

/// The smallest memory limit accepted: below this a process cannot even exec.
pub(crate) const MIN_MEMORY: u64 = 1024 * 1024;

/// The CFS period used for `cpus` (100 ms, the kernel default).
pub(crate) const CFS_PERIOD_US: u64 = 100_000;

/// Check every limit; the error names the field, the value and a valid range.
pub(crate) fn validate(limits: &Limits) -> Result<(), SandboxError> {
    let invalid =
        |field, value: String, hint| Err(SandboxError::InvalidLimit { field, value, hint });
    if let Some(memory) = limits.memory
        && memory < MIN_MEMORY
    {
        return invalid(
            "memory",
            format!("{memory} bytes"),
            "give at least 1 MiB (1048576 bytes), e.g. \"256MiB\"",
        );
    }
    if let Some(high) = limits.memory_high {
        if high < MIN_MEMORY {
            return invalid(
                "memory_high",
                format!("{high} bytes"),
                "give at least 1 MiB (1048576 bytes)",
            );
        }
        if let Some(memory) = limits.memory
            && high > memory
        {
            return invalid(
                "memory_high",
                format!("{high} bytes (above memory = {memory})"),
                "memory_high throttles before the hard limit: make it at most `memory`",
            );
        }
    }
    if let Some(cpus) = limits.cpus
        && !(cpus.is_finite() && cpus > 0.0 && cpus <= 4096.0)
    {
        return invalid("cpus", cpus.to_string(), "give a positive number of CPUs, e.g. 0.5 or 2");
    }
    if limits.pids == Some(0) {
        return invalid(
            "pids",
            "0".into(),
            "give at least 1 (the main process itself counts), e.g. 1000",
        );
    }
    if limits.nofile == Some(0) {
        return invalid("nofile", "0".into(), "give at least 16 open files, e.g. 65535");
    }
    if limits.nproc == Some(0) {
        return invalid(
            "nproc",
            "0".into(),
            "give at least 1, or leave nproc unset and use `pids`",
        );
    }
    Ok(())
}

/// The CFS quota in microseconds per [`CFS_PERIOD_US`] for `cpus`.
pub(crate) fn cfs_quota_us(cpus: f64) -> u64 {
    // The kernel refuses quotas under 1 ms.
    ((cpus * CFS_PERIOD_US as f64).round() as u64).max(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_nonsense_limits_are_refused_with_the_value() {
        let cases = [
            (Limits { memory: Some(0), ..Limits::default() }, "memory", "0 bytes"),
            (Limits { memory: Some(4096), ..Limits::default() }, "memory", "4096 bytes"),
            (Limits { pids: Some(0), ..Limits::default() }, "pids", "= 0"),
            (Limits { cpus: Some(0.0), ..Limits::default() }, "cpus", "= 0"),
            (Limits { cpus: Some(-1.0), ..Limits::default() }, "cpus", "-1"),
            (Limits { cpus: Some(f64::NAN), ..Limits::default() }, "cpus", "NaN"),
            (Limits { nofile: Some(0), ..Limits::default() }, "nofile", "= 0"),
            (Limits { nproc: Some(0), ..Limits::default() }, "nproc", "= 0"),
            (
                Limits {
                    memory: Some(MIN_MEMORY * 4),
                    memory_high: Some(MIN_MEMORY * 8),
                    ..Limits::default()
                },
                "memory_high",
                "above memory",
            ),
        ];
        for (limits, field, shown) in cases {
            let err = validate(&limits).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(err, SandboxError::InvalidLimit { field: f, .. } if f == field),
                "{text}"
            );
            assert!(text.contains(shown), "{text}");
            assert!(text.contains("give") || text.contains("make"), "has a hint: {text}");
        }
    }

    #[test]
    fn sane_limits_pass() {
        let limits = Limits {
            memory: Some(64 * MIN_MEMORY),
            memory_high: Some(32 * MIN_MEMORY),
            cpus: Some(0.5),
            pids: Some(1),
            nofile: Some(1024),
            nproc: Some(100),
            core: Some(0),
        };
        validate(&limits).unwrap();
        validate(&Limits::default()).unwrap();
    }

    #[test]
    fn cpus_become_a_quota_per_100ms() {
        assert_eq!(cfs_quota_us(1.0), 100_000);
        assert_eq!(cfs_quota_us(0.5), 50_000);
        assert_eq!(cfs_quota_us(2.25), 225_000);
        assert_eq!(cfs_quota_us(0.001), 1000);
    }
}
