//! `readiness` / `liveness` → [`ProbeSpec`].

use std::time::Duration;

use super::table::{Reader, Table};
use crate::model::{ProbeCheck, ProbeSpec, parse_host_port, parse_http_url};
use crate::problem::Problem;
use crate::replica::{check_placeholders, expand_replica, has_placeholder};

pub(crate) const PROBE_KEYS: &[&str] = &[
    "exec",
    "http",
    "tcp",
    "period",
    "timeout",
    "failure_threshold",
    "success_threshold",
    "initial_delay",
];

impl Reader<'_> {
    /// The probe `key` of service table `t`; `replicas` bounds placeholder checks.
    pub(crate) fn probe(
        &mut self,
        t: &Table<'_, '_>,
        key: &str,
        replicas: u32,
    ) -> Option<ProbeSpec> {
        let p = self.sub(t, key, PROBE_KEYS)?;
        let present: Vec<&str> =
            ["exec", "http", "tcp"].into_iter().filter(|k| p.get(k).is_some()).collect();
        let check = match present.as_slice() {
            ["exec"] => self.command(&p, "exec").map(ProbeCheck::Exec),
            ["http"] => self.http_check(&p, replicas),
            ["tcp"] => self.tcp_check(&p),
            _ => {
                let found =
                    if present.is_empty() { "none".to_owned() } else { present.join(" and ") };
                self.report(Problem::ProbeKind { key: p.path.clone(), found }, p.span.clone());
                None
            }
        };
        if let Some(ProbeCheck::Exec(argv)) = &check {
            for arg in argv {
                if let Err(source) = check_placeholders(arg) {
                    self.report(
                        Problem::BadPlaceholder { key: p.key("exec"), source },
                        p.span_of("exec"),
                    );
                }
            }
        }
        let probe = ProbeSpec {
            check: check?,
            period: self.positive_duration(&p, "period").unwrap_or(Duration::from_secs(5)),
            timeout: self.positive_duration(&p, "timeout").unwrap_or(Duration::from_secs(1)),
            failure_threshold: self.count(&p, "failure_threshold").unwrap_or(3),
            success_threshold: self.count(&p, "success_threshold").unwrap_or(1),
            initial_delay: self.duration(&p, "initial_delay").unwrap_or(Duration::ZERO),
        };
        Some(probe)
    }

    fn http_check(&mut self, p: &Table<'_, '_>, replicas: u32) -> Option<ProbeCheck> {
        let url = self.string(p, "http")?;
        let span = p.span_of("http");
        if let Err(source) = check_placeholders(&url) {
            self.report(Problem::BadPlaceholder { key: p.key("http"), source }, span);
            return None;
        }
        // Both ends of the replica range: ports grow with the index, so if the
        // first and the last replica's URL are valid, every one between is.
        let mut first = None;
        for index in [0, replicas.saturating_sub(1)] {
            let expanded = expand_replica(&url, index);
            match parse_http_url(&expanded) {
                Ok(parts) => {
                    first.get_or_insert(parts);
                }
                Err(reason) => {
                    let problem =
                        Problem::BadProbeUrl { key: p.key("http"), url: expanded, reason };
                    self.report(problem, span);
                    return None;
                }
            }
        }
        let (host, port, path) = first?;
        Some(ProbeCheck::Http { url, host, port, path })
    }

    fn tcp_check(&mut self, p: &Table<'_, '_>) -> Option<ProbeCheck> {
        let address = self.string(p, "tcp")?;
        let span = p.span_of("tcp");
        let reason = if has_placeholder(&address) {
            Err("tcp probes cannot vary per replica")
        } else {
            parse_host_port(&address)
        };
        match reason {
            Ok((host, port)) => Some(ProbeCheck::Tcp { host, port }),
            Err(reason) => {
                self.report(
                    Problem::BadProbeAddress { key: p.key("tcp"), value: address, reason },
                    span,
                );
                None
            }
        }
    }
}
