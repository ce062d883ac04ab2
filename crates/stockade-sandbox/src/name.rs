//! Box names: relative paths like `web/0/17`, checked before they touch the filesystem.

use crate::SandboxError;

/// A validated box name: one or more segments of `[A-Za-z0-9._-]` joined by
/// `/`, no segment `.` or `..`, no leading or trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BoxName(String);

impl BoxName {
    /// Check `name` and wrap it.
    pub(crate) fn parse(name: &str) -> Result<BoxName, SandboxError> {
        let fail = |reason| Err(SandboxError::InvalidBoxName { name: name.to_string(), reason });
        if name.is_empty() {
            return fail("it is empty");
        }
        if name.starts_with('/') {
            return fail("it starts with `/` (it must be relative to the stockade subtree)");
        }
        if name.len() > 200 {
            return fail("it is longer than 200 bytes");
        }
        for segment in name.split('/') {
            if segment.is_empty() {
                return fail("it has an empty segment (`//` or a trailing `/`)");
            }
            if segment == "." || segment == ".." {
                return fail("it has a `.` or `..` segment");
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return fail("it has a character outside [A-Za-z0-9._-]");
            }
        }
        Ok(BoxName(name.to_string()))
    }

    /// The name as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The ancestors of the box inside the subtree, innermost first:
    /// `web/0/17` → `web/0`, `web`.
    pub(crate) fn ancestors(&self) -> impl Iterator<Item = &str> {
        let name = self.0.as_str();
        name.char_indices().rev().filter(|(_, c)| *c == '/').map(move |(i, _)| &name[..i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_pass_and_bad_ones_say_why() {
        for good in ["web/0/17", "a", "job.agent/12", "x-y_z"] {
            assert_eq!(BoxName::parse(good).unwrap().as_str(), good);
        }
        for (bad, why) in [
            ("", "empty"),
            ("/abs", "starts with"),
            ("a/../b", "`..`"),
            ("a//b", "empty segment"),
            ("a/", "empty segment"),
            ("a b", "character"),
            ("./a", "`.`"),
        ] {
            let err = BoxName::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(err.contains("web/0/17"), "the hint shows a good name: {err}");
        }
    }

    #[test]
    fn ancestors_go_from_inner_to_outer() {
        let name = BoxName::parse("web/0/17").unwrap();
        assert_eq!(name.ancestors().collect::<Vec<_>>(), vec!["web/0", "web"]);
        assert_eq!(BoxName::parse("solo").unwrap().ancestors().count(), 0);
    }
}
