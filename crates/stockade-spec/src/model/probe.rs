//! Readiness and liveness probes.

use std::time::Duration;

use crate::replica::expand_replica;

/// A validated probe: one check plus its timing.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    /// What to check.
    pub check: ProbeCheck,
    /// Time between checks (default 5s).
    pub period: Duration,
    /// One check fails after this long (default 1s).
    pub timeout: Duration,
    /// Consecutive failures that flip the state (default 3).
    pub failure_threshold: u32,
    /// Consecutive successes that flip the state back (default 1).
    pub success_threshold: u32,
    /// Wait this long after start before the first check (default 0s).
    pub initial_delay: Duration,
}

/// What a probe checks. `exec` arguments and the `http` URL may hold
/// `{replica}` placeholders (see [`crate::expand_replica`]); the parsed
/// `host`/`port`/`path` fields are those of replica 0 — call
/// [`ProbeCheck::for_replica`] for any other replica. `tcp` addresses cannot
/// (write an http probe instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeCheck {
    /// Run this command inside the agent's box; exit 0 is success.
    Exec(Vec<String>),
    /// `GET url`; any 2xx/3xx status is success. Plain `http://` only.
    Http {
        /// The URL as written (placeholders unexpanded).
        url: String,
        /// Host part.
        host: String,
        /// Port (80 when the URL has none).
        port: u16,
        /// Path and query, at least `/`.
        path: String,
    },
    /// Open a TCP connection to `host:port`.
    Tcp {
        /// Host part.
        host: String,
        /// Port.
        port: u16,
    },
}

impl ProbeCheck {
    /// This check with placeholders expanded for replica `index`.
    pub fn for_replica(&self, index: u32) -> ProbeCheck {
        match self {
            ProbeCheck::Exec(argv) => {
                ProbeCheck::Exec(argv.iter().map(|a| expand_replica(a, index)).collect())
            }
            ProbeCheck::Http { url, .. } => {
                let expanded = expand_replica(url, index);
                match parse_http_url(&expanded) {
                    Ok((host, port, path)) => ProbeCheck::Http { url: expanded, host, port, path },
                    // Unreachable for a validated spec: both ends of the replica
                    // range were checked at parse time.
                    Err(_) => self.clone(),
                }
            }
            // Tcp addresses are typed, so they cannot carry placeholders; the
            // spec refuses `{replica}` in a tcp probe.
            ProbeCheck::Tcp { .. } => self.clone(),
        }
    }
}

/// Split `http://host[:port][/path]` into its parts, refusing anything else.
pub(crate) fn parse_http_url(url: &str) -> Result<(String, u16, String), &'static str> {
    let rest = match url.split_once("://") {
        Some(("http", rest)) => rest,
        Some(("https", _)) => return Err("https is not supported by http probes"),
        Some(_) => return Err("only http:// URLs can be probed"),
        None => return Err("the URL has no scheme"),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') { format!("/{path}") } else { path.to_owned() };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported");
    }
    let (host, port) = if authority.ends_with(']') || !authority.contains(':') {
        (authority.to_owned(), 80)
    } else {
        parse_host_port(authority)?
    };
    if host.is_empty() || host == "[]" {
        return Err("the URL has no host");
    }
    Ok((host, port, path))
}

/// Split `host:port` (IPv6 as `[::1]:port`).
pub(crate) fn parse_host_port(text: &str) -> Result<(String, u16), &'static str> {
    let (host, port) = text.rsplit_once(':').ok_or("expected HOST:PORT")?;
    if host.is_empty() {
        return Err("the host is empty");
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err("write IPv6 hosts in brackets, e.g. [::1]:8080");
    }
    let port: u16 = port.parse().map_err(|_| "the port is not a number from 1 to 65535")?;
    if port == 0 {
        return Err("the port is not a number from 1 to 65535");
    }
    Ok((host.to_owned(), port))
}
