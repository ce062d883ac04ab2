//! Durations as written in a spec: `"100ms"`, `"2s"`, `"5m"`, `"1h30m"`, `"7d"`.

use std::time::Duration;

/// Why a duration string was refused. Every message says what a good one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string was empty.
    #[error("a duration cannot be empty; write e.g. \"10s\"")]
    Empty,
    /// A number had no unit after it (`"10"`); bare numbers are ambiguous.
    #[error("`{number}` has no unit; write e.g. \"{number}s\" or \"{number}ms\"")]
    MissingUnit {
        /// The number without a unit.
        number: String,
    },
    /// A unit that is not one of `ms`, `s`, `m`, `h`, `d`.
    #[error("unknown unit `{unit}`; use ms, s, m, h or d")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
    },
    /// Something that is not a whole number where a number belongs (`"1.5s"`, `"-2s"`).
    #[error("`{text}` is not a whole number; write e.g. \"1500ms\" instead of \"1.5s\"")]
    BadNumber {
        /// The offending text.
        text: String,
    },
    /// The total does not fit in a `Duration`.
    #[error("the duration is too large")]
    Overflow,
}

/// Parse a duration: one or more `<whole number><unit>` parts, units `ms`, `s`,
/// `m`, `h`, `d`, summed (`"1h30m"`). A lone `"0"` is zero; any other bare number
/// is refused because `timeout = "30"` could mean seconds or minutes.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        if number.is_empty() {
            let token: String = rest.chars().take_while(|c| !c.is_ascii_alphabetic()).collect();
            return Err(DurationError::BadNumber {
                text: if token.is_empty() { rest.to_owned() } else { token },
            });
        }
        let unit_len = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if unit.is_empty() {
            if next.starts_with('.') {
                return Err(DurationError::BadNumber { text: text.to_owned() });
            }
            return Err(DurationError::MissingUnit { number: number.to_owned() });
        }
        let value: u64 = number.parse().map_err(|_| DurationError::Overflow)?;
        let part = match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.checked_mul(60).ok_or(DurationError::Overflow)?),
            "h" => Duration::from_secs(value.checked_mul(3600).ok_or(DurationError::Overflow)?),
            "d" => Duration::from_secs(value.checked_mul(86_400).ok_or(DurationError::Overflow)?),
            other => return Err(DurationError::UnknownUnit { unit: other.to_owned() }),
        };
        total = total.checked_add(part).ok_or(DurationError::Overflow)?;
        rest = next;
    }
    Ok(total)
}

/// Write a duration the way a spec does, largest units first: `"10m"`,
/// `"1h30m"`, `"1s500ms"`, `"0s"`. [`parse_duration`] reads it back.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
    {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_unit_and_sums_parts() {
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_ambiguous_or_malformed_text() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("30"), Err(DurationError::MissingUnit { number: "30".into() }));
        assert_eq!(parse_duration("10sec"), Err(DurationError::UnknownUnit { unit: "sec".into() }));
        assert_eq!(parse_duration("1.5s"), Err(DurationError::BadNumber { text: "1.5s".into() }));
        assert!(matches!(parse_duration("-2s"), Err(DurationError::BadNumber { .. })));
        assert!(matches!(parse_duration("s"), Err(DurationError::BadNumber { .. })));
        assert_eq!(parse_duration("99999999999999999999d"), Err(DurationError::Overflow));
    }
}
