//! Limits: `[defaults.limits]`, per-unit `limits`, and `STOCKADE_DEFAULT_*`.
//!
//! Precedence, lowest first: built-in defaults ([`builtin_defaults`]), the
//! spec's `[defaults.limits]`, `STOCKADE_DEFAULT_*` environment variables, and
//! a service's or job's own `limits`. Any limit may be `"unlimited"` to remove
//! an inherited value (in the spec and in the environment); an empty variable
//! counts as unset.

use stockade_proto::Limits;

use super::table::{Reader, Table};
use crate::problem::Problem;
use crate::size::parse_size;

pub(crate) const LIMITS_KEYS: &[&str] =
    &["cpus", "memory", "memory_high", "pids", "nofile", "nproc", "core"];

const UNLIMITED: &str = "unlimited";
const MIN_MEMORY: u64 = 1 << 20;
const MIN_CPUS: f64 = 0.01;

/// Limits of every box when neither the spec nor the environment says
/// otherwise: 1 CPU, 2 GiB, 1000 tasks, 65535 open files — the
/// `DOCKER_*_LIMIT` defaults of the field reports.
pub fn builtin_defaults() -> Limits {
    Limits {
        cpus: Some(1.0),
        memory: Some(2 << 30),
        pids: Some(1000),
        nofile: Some(65535),
        ..Limits::default()
    }
}

/// Changes to a set of limits: outer `None` keeps the inherited value,
/// `Some(None)` removes it ("unlimited"), `Some(Some(v))` sets it.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct LimitsOverride {
    cpus: Option<Option<f64>>,
    memory: Option<Option<u64>>,
    memory_high: Option<Option<u64>>,
    pids: Option<Option<u64>>,
    nofile: Option<Option<u64>>,
    nproc: Option<Option<u64>>,
    core: Option<Option<u64>>,
}

impl LimitsOverride {
    pub(crate) fn apply(&self, base: &Limits) -> Limits {
        Limits {
            cpus: self.cpus.unwrap_or(base.cpus),
            memory: self.memory.unwrap_or(base.memory),
            memory_high: self.memory_high.unwrap_or(base.memory_high),
            pids: self.pids.unwrap_or(base.pids),
            nofile: self.nofile.unwrap_or(base.nofile),
            nproc: self.nproc.unwrap_or(base.nproc),
            core: self.core.unwrap_or(base.core),
        }
    }
}

/// How one limit key is read and bounded.
#[derive(Clone, Copy)]
enum Kind {
    /// Bytes, at least this many.
    Size { min: u64, expected: &'static str },
    /// A count, at least 1.
    Count,
    /// Bytes, zero allowed (core: 0 disables dumps).
    Bytes,
}

impl Reader<'_> {
    /// The `limits` table `key` of `table` (absent → no changes).
    pub(crate) fn limits(&mut self, table: &Table<'_, '_>, key: &str) -> LimitsOverride {
        let Some(limits) = self.sub(table, key, LIMITS_KEYS) else {
            return LimitsOverride::default();
        };
        LimitsOverride {
            cpus: self.limit_cpus(&limits),
            memory: self.limit(
                &limits,
                "memory",
                Kind::Size { min: MIN_MEMORY, expected: "at least 1MiB" },
            ),
            memory_high: self.limit(
                &limits,
                "memory_high",
                Kind::Size { min: MIN_MEMORY, expected: "at least 1MiB" },
            ),
            pids: self.limit(&limits, "pids", Kind::Count),
            nofile: self.limit(&limits, "nofile", Kind::Count),
            nproc: self.limit(&limits, "nproc", Kind::Count),
            core: self.limit(&limits, "core", Kind::Bytes),
        }
    }

    fn is_unlimited(table: &Table<'_, '_>, key: &str) -> bool {
        table.get(key).and_then(|v| v.get_ref().as_str()) == Some(UNLIMITED)
    }

    fn limit_cpus(&mut self, table: &Table<'_, '_>) -> Option<Option<f64>> {
        if Self::is_unlimited(table, "cpus") {
            return Some(None);
        }
        let cpus = self.number(table, "cpus")?;
        if cpus < MIN_CPUS {
            self.out_of_range(table, "cpus", cpus, "at least 0.01 (or \"unlimited\")");
            return None;
        }
        Some(Some(cpus))
    }

    fn limit(&mut self, table: &Table<'_, '_>, key: &str, kind: Kind) -> Option<Option<u64>> {
        if Self::is_unlimited(table, key) {
            return Some(None);
        }
        let value = match kind {
            Kind::Size { .. } | Kind::Bytes => self.size(table, key)?,
            Kind::Count => self.unsigned(table, key)?,
        };
        let (min, expected) = match kind {
            Kind::Size { min, expected } => (min, expected),
            Kind::Count => (1, "at least 1 (or \"unlimited\")"),
            Kind::Bytes => (0, ""),
        };
        if value < min {
            let shown = table.get(key).map_or_else(|| value.to_string(), |v| literal(v.get_ref()));
            self.out_of_range(table, key, shown, expected);
            return None;
        }
        Some(Some(value))
    }

    /// `STOCKADE_DEFAULT_*` from the injected environment.
    pub(crate) fn env_limits(&mut self) -> LimitsOverride {
        LimitsOverride {
            cpus: self.env_value("STOCKADE_DEFAULT_CPUS", "a number of CPUs such as 1.5", |t| {
                t.parse::<f64>().ok().filter(|c| c.is_finite() && *c >= MIN_CPUS)
            }),
            memory: self.env_value(
                "STOCKADE_DEFAULT_MEMORY",
                "a size of at least 1MiB, such as 4GiB",
                |t| parse_size(t).ok().filter(|n| *n >= MIN_MEMORY),
            ),
            memory_high: self.env_value(
                "STOCKADE_DEFAULT_MEMORY_HIGH",
                "a size of at least 1MiB, such as 3GiB",
                |t| parse_size(t).ok().filter(|n| *n >= MIN_MEMORY),
            ),
            pids: self.env_value("STOCKADE_DEFAULT_PIDS", "a whole number of at least 1", positive),
            nofile: self.env_value(
                "STOCKADE_DEFAULT_NOFILE",
                "a whole number of at least 1",
                positive,
            ),
            nproc: self.env_value(
                "STOCKADE_DEFAULT_NPROC",
                "a whole number of at least 1",
                positive,
            ),
            core: self.env_value("STOCKADE_DEFAULT_CORE", "a size such as 0 or 1GiB", |t| {
                parse_size(t).ok()
            }),
        }
    }

    fn env_value<T>(
        &mut self,
        var: &'static str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<Option<T>> {
        let raw = (self.env)(var)?;
        let text = raw.trim();
        if text.is_empty() {
            return None;
        }
        if text == UNLIMITED {
            return Some(None);
        }
        match parse(text) {
            Some(v) => Some(Some(v)),
            None => {
                let problem = Problem::BadEnvDefault { var, value: raw.clone(), expected };
                self.push(crate::error::SpecDiagnostic::new(problem, None));
                None
            }
        }
    }
}

fn positive(text: &str) -> Option<u64> {
    text.parse::<u64>().ok().filter(|n| *n >= 1)
}

fn literal(value: &toml::de::DeValue<'_>) -> String {
    match value.as_str() {
        Some(s) => format!("\"{s}\""),
        None => value.as_integer().map_or_else(|| value.type_str().to_owned(), |i| i.to_string()),
    }
}
