//! Memory and swap from `/proc/meminfo` (values in kB there, bytes here).

/// The `/proc/meminfo` rows the doctor, plan and headroom use, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meminfo {
    /// `MemTotal`.
    pub total: u64,
    /// `MemAvailable`: what can be allocated without swapping, page cache included.
    pub available: u64,
    /// `SwapTotal`.
    pub swap_total: u64,
    /// `SwapFree`.
    pub swap_free: u64,
    /// `CommitLimit`: the ceiling of `Committed_AS` under `vm.overcommit_memory=2`.
    pub commit_limit: u64,
    /// `Committed_AS`: memory promised to every process.
    pub committed: u64,
}

/// Parse `/proc/meminfo`; `Err` names the first required row that is missing.
pub fn parse_meminfo(text: &str) -> Result<Meminfo, String> {
    let get = |key: &str| -> Result<u64, String> {
        text.lines()
            .find_map(|line| {
                let (k, rest) = line.split_once(':')?;
                if k != key {
                    return None;
                }
                let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
                Some(kb.saturating_mul(1024))
            })
            .ok_or_else(|| format!("no row {key:?}"))
    };
    Ok(Meminfo {
        total: get("MemTotal")?,
        available: get("MemAvailable")?,
        swap_total: get("SwapTotal").unwrap_or(0),
        swap_free: get("SwapFree").unwrap_or(0),
        commit_limit: get("CommitLimit").unwrap_or(0),
        committed: get("Committed_AS").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_in_bytes() {
        let text = "MemTotal:       24684084 kB\nMemFree:  1 kB\nMemAvailable:   24323140 kB\n\
                    SwapTotal: 0 kB\nSwapFree: 0 kB\nCommitLimit: 12342040 kB\nCommitted_AS: 59032 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(m.total, 24684084 * 1024);
        assert_eq!(m.available, 24323140 * 1024);
        assert_eq!(m.committed, 59032 * 1024);
    }

    #[test]
    fn a_missing_required_row_is_named() {
        let err = parse_meminfo("MemTotal: 10 kB\n").unwrap_err();
        assert!(err.contains("MemAvailable"), "{err}");
    }
}
