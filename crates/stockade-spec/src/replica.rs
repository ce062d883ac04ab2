//! The `{replica}` placeholder: how one service line describes 22 replicas.
//!
//! A service with `replicas = N` runs N copies that often need distinct ports.
//! In `command`, `env` values and probe `exec`/`http`/`tcp` strings, the engine
//! replaces `{replica}` with the replica's index (0-based) and `{replica+K}` with
//! index + K — so `"http://127.0.0.1:{replica+9100}/health"` probes ports
//! 9100, 9101, …. Nothing else in braces is touched (`${HOME}` stays as is).
//! The spec validates every templated probe with the first and the last index,
//! so an expansion that is fine at parse time is fine for every replica.

/// A malformed placeholder such as `{replica+}` or `{replica-1}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed placeholder `{text}`; write {{replica}} or {{replica+N}} with a whole number N")]
pub struct PlaceholderError {
    /// The placeholder as written.
    pub text: String,
}

const OPEN: &str = "{replica";

/// `text` with every `{replica}` / `{replica+K}` replaced for replica `index`.
/// A malformed placeholder is left as written (the spec refuses those at parse
/// time).
pub fn expand_replica(text: &str, index: u32) -> String {
    expand(text, index).unwrap_or_else(|_| text.to_owned())
}

/// Whether `text` contains any replica placeholder.
pub(crate) fn has_placeholder(text: &str) -> bool {
    text.contains(OPEN)
}

/// Refuse malformed placeholders.
pub(crate) fn check_placeholders(text: &str) -> Result<(), PlaceholderError> {
    expand(text, 0).map(|_| ())
}

fn expand(text: &str, index: u32) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let close = after
            .find('}')
            .ok_or_else(|| PlaceholderError { text: rest[start..].chars().take(20).collect() })?;
        let inner = &after[..close];
        let offset: u64 = match inner.strip_prefix('+') {
            None if inner.is_empty() => 0,
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                n.parse().map_err(|_| PlaceholderError { text: format!("{OPEN}{inner}}}") })?
            }
            _ => return Err(PlaceholderError { text: format!("{OPEN}{inner}}}") }),
        };
        out.push_str(&(u64::from(index) + offset).to_string());
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_index_and_offset_forms_only() {
        assert_eq!(expand_replica("p{replica}", 3), "p3");
        assert_eq!(
            expand_replica("http://127.0.0.1:{replica+9100}/health", 21),
            "http://127.0.0.1:9121/health"
        );
        assert_eq!(expand_replica("${HOME}/{replica}-{replica}", 1), "${HOME}/1-1");
        assert_eq!(expand_replica("no placeholder", 5), "no placeholder");
    }

    #[test]
    fn malformed_placeholders_are_refused_and_left_alone() {
        for bad in ["{replica+}", "{replica-1}", "{replica+x}", "{replica", "{replicas}"] {
            assert!(check_placeholders(bad).is_err(), "{bad} should be refused");
            assert_eq!(expand_replica(bad, 2), bad);
        }
        assert!(check_placeholders("{replica+10}").is_ok());
    }
}
