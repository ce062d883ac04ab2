//! Byte sizes as written in a spec: `"512MiB"`, `"2GiB"`, `"1G"`, `"4096"`.

/// Why a size string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// The string was empty.
    #[error("a size cannot be empty; write e.g. \"512MiB\"")]
    Empty,
    /// The number part is not a non-negative decimal number.
    #[error("`{text}` is not a number of bytes; write e.g. \"512MiB\" or \"2GiB\"")]
    BadNumber {
        /// The number part as written.
        text: String,
    },
    /// The unit is not one stockade knows; `hint` names the likely intent.
    #[error("unknown unit `{unit}`; {hint}")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// What to write instead.
        hint: &'static str,
    },
    /// The value does not fit in 64 bits.
    #[error("the size is too large")]
    Overflow,
}

/// Binary (`KiB`, `MiB`, `GiB`, `TiB`) and decimal (`K`/`KB`, `M`/`MB`, `G`/`GB`,
/// `T`/`TB`) units; `B` or nothing means bytes. Units are case-sensitive on
/// purpose: Docker reads `512m` as MiB and a reader might take it for MB or
/// millibytes, so the lowercase forms are refused with a hint.
const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("B", 1),
    ("K", 1_000),
    ("KB", 1_000),
    ("KiB", 1 << 10),
    ("M", 1_000_000),
    ("MB", 1_000_000),
    ("MiB", 1 << 20),
    ("G", 1_000_000_000),
    ("GB", 1_000_000_000),
    ("GiB", 1 << 30),
    ("T", 1_000_000_000_000),
    ("TB", 1_000_000_000_000),
    ("TiB", 1 << 40),
];

/// Parse a size in bytes: a decimal number (fractions allowed: `"1.5GiB"`,
/// rounded down to a whole byte), optional spaces, then a unit from the table
/// above. A bare number is bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim_start();
    if number.is_empty() {
        return Err(SizeError::BadNumber { text: text.to_owned() });
    }
    let multiplier =
        UNITS.iter().find(|(name, _)| *name == unit).map(|(_, m)| *m).ok_or_else(|| {
            SizeError::UnknownUnit { unit: unit.to_owned(), hint: unit_hint(unit) }
        })?;
    let bad_number = || SizeError::BadNumber { text: number.to_owned() };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || fraction.contains('.') {
        return Err(bad_number());
    }
    let whole: u64 = whole.parse().map_err(|_| SizeError::Overflow)?;
    let mut bytes = whole.checked_mul(multiplier).ok_or(SizeError::Overflow)?;
    if !fraction.is_empty() {
        // Exact decimal arithmetic on the fraction digits: "1.5GiB" is 1.5 × 2^30
        // bytes exactly, which an f64 would round for large units.
        let digits: u128 = fraction.parse().map_err(|_| bad_number())?;
        let scale = 10u128.checked_pow(fraction.len() as u32).ok_or(SizeError::Overflow)?;
        let part = digits * u128::from(multiplier) / scale;
        let part = u64::try_from(part).map_err(|_| SizeError::Overflow)?;
        bytes = bytes.checked_add(part).ok_or(SizeError::Overflow)?;
    }
    Ok(bytes)
}

fn unit_hint(unit: &str) -> &'static str {
    match unit.to_ascii_lowercase().as_str() {
        "k" | "kb" | "kib" => "write KiB (1024) or KB (1000)",
        "m" | "mb" | "mib" => "write MiB (1024²) or MB (1000²)",
        "g" | "gb" | "gib" => "write GiB (1024³) or GB (1000³)",
        "t" | "tb" | "tib" => "write TiB (1024⁴) or TB (1000⁴)",
        _ => "use B, KiB, MiB, GiB, TiB (binary) or KB, MB, GB, TB (decimal)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_decimal_and_bare_sizes() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1G"), Ok(1_000_000_000));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10 KiB"), Ok(10 * 1024));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("0.5KB"), Ok(500));
    }

    #[test]
    fn refuses_ambiguous_units_and_junk() {
        assert_eq!(parse_size(""), Err(SizeError::Empty));
        assert!(matches!(
            parse_size("512m"),
            Err(SizeError::UnknownUnit { hint, .. }) if hint.contains("MiB")
        ));
        assert!(matches!(parse_size("lots"), Err(SizeError::BadNumber { .. })));
        assert!(matches!(parse_size("-1GiB"), Err(SizeError::BadNumber { .. })));
        assert!(matches!(parse_size("12 apples"), Err(SizeError::UnknownUnit { .. })));
        assert!(matches!(parse_size(".5GiB"), Err(SizeError::BadNumber { .. })));
        assert!(matches!(parse_size("1.2.3MiB"), Err(SizeError::BadNumber { .. })));
        assert_eq!(parse_size("20000000TiB"), Err(SizeError::Overflow));
    }
}
