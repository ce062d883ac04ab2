//! `name[3]`: how every verb addresses one replica of a service.

use crate::exit::{USAGE, fail};

/// A service name and, when written `name[N]`, one replica of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The service.
    pub name: String,
    /// The replica, if one was named.
    pub replica: Option<u32>,
}

impl Target {
    /// Parse `name` or `name[N]`; anything else with a `[` is a usage error.
    pub fn parse(text: &str) -> anyhow::Result<Target> {
        let Some((name, rest)) = text.split_once('[') else {
            return Ok(Target { name: text.to_owned(), replica: None });
        };
        match rest.strip_suffix(']').and_then(|n| n.parse::<u32>().ok()) {
            Some(replica) if !name.is_empty() => {
                Ok(Target { name: name.to_owned(), replica: Some(replica) })
            }
            _ => Err(fail(
                USAGE,
                format!("`{text}` is not a service or one replica of it"),
                Some(
                    "write the service's name, or `name[N]` for replica N (from 0), e.g. player[3]"
                        .to_string(),
                ),
            )),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.replica {
            Some(r) => write!(f, "{}[{r}]", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_replicas() {
        assert_eq!(Target::parse("web").unwrap(), Target { name: "web".into(), replica: None });
        assert_eq!(Target::parse("player[3]").unwrap().replica, Some(3));
        assert_eq!(Target::parse("player[3]").unwrap().to_string(), "player[3]");
        for bad in ["player[", "player[x]", "[3]", "player[-1]", "player[3]x"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
