//! Sizes for humans: one [`human_bytes`] for every message, table and
//! post-mortem (parsing sizes stays with the spec, which owns the syntax).

/// Bytes in the largest binary unit that keeps the number ≥ 1: a whole
/// number when exact (`512 MiB`, `2 GiB`), else one decimal (`1.5 GiB`);
/// below 1 KiB in bytes (`900 B`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    while unit + 1 < UNITS.len() && bytes >= 1u64 << (10 * (unit + 1)) {
        unit += 1;
    }
    let size = 1u64 << (10 * unit);
    if bytes.is_multiple_of(size) {
        format!("{} {}", bytes / size, UNITS[unit])
    } else {
        format!("{:.1} {}", bytes as f64 / size as f64, UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_largest_unit_and_drops_a_zero_decimal() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(900), "900 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(512 << 20), "512 MiB");
        assert_eq!(human_bytes(2 << 30), "2 GiB");
        assert_eq!(human_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(human_bytes((3 << 30) + (200 << 20)), "3.2 GiB");
        assert_eq!(human_bytes(5 << 40), "5 TiB");
        assert_eq!(human_bytes(u64::MAX), "16777216.0 TiB");
    }
}
