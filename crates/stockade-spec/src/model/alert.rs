//! `[alert.NAME]`: a user's alert rule over one named signal, beside the
//! built-in thresholds of `[monitor]`.
//!
//! ```toml
//! [alert.queue_idle]
//! signal = "queue_depth"
//! pool = "default"
//! op = "=="
//! value = 0
//! for = "10m"
//!
//! [alert.flappy]
//! signal = "restarts"
//! service = "worker"
//! window = "1h"
//! op = ">"
//! value = 3
//! ```
//!
//! A *level* signal (queue depth, running count, headroom, PSI) is sampled;
//! a *count* signal (restarts, job failures and successes) counts events in
//! the last `window`. The rule fires once the comparison has held for `for`
//! (zero: at once) and resolves when it stops holding.

use std::fmt;
use std::time::Duration;

/// A validated alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSpec {
    /// The name from `[alert.NAME]`: the `alert` label and the event's `alert`.
    pub name: String,
    /// What is watched.
    pub signal: AlertSignal,
    /// How the signal is compared with `value`.
    pub op: AlertOp,
    /// The threshold (bytes for `headroom_memory`, percent for PSI, a count
    /// otherwise).
    pub value: f64,
    /// The window of a count signal; `None` for a level signal.
    pub window: Option<Duration>,
    /// How long the comparison must hold before the rule fires.
    pub for_: Duration,
}

/// The signals a rule can watch, with the label each needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertSignal {
    /// Jobs queued in a pool (level).
    QueueDepth {
        /// The pool.
        pool: String,
    },
    /// Jobs running in a pool (level).
    Running {
        /// The pool.
        pool: String,
    },
    /// Jobs of a template that ended in failure within the window (count).
    Failures {
        /// The job template.
        template: String,
    },
    /// Jobs of a template that succeeded within the window (count).
    Successes {
        /// The job template.
        template: String,
    },
    /// Restarts of a service's replicas within the window (count).
    Restarts {
        /// The service.
        service: String,
    },
    /// Host memory free above `reserve_memory`, in bytes (level).
    HeadroomMemory,
    /// Host tasks free above `reserve_tasks` (level).
    HeadroomPids,
    /// A `/proc/pressure` avg10 in percent (level).
    Psi {
        /// `cpu`, `memory` or `io`.
        resource: PsiResource,
        /// `some` or `full`.
        full: bool,
    },
}

/// The resource of a PSI signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsiResource {
    /// `/proc/pressure/cpu`.
    Cpu,
    /// `/proc/pressure/memory`.
    Memory,
    /// `/proc/pressure/io`.
    Io,
}

/// What a signal needs besides its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalNeeds {
    /// A `pool = "..."` label; sampled.
    Pool,
    /// A `template = "..."` label and a `window`; counted.
    Template,
    /// A `service = "..."` label and a `window`; counted.
    Service,
    /// No label; sampled.
    Nothing,
}

/// Every signal name, with what it needs; the single truth `check` and the
/// JSON schema use.
pub const ALERT_SIGNALS: &[(&str, SignalNeeds)] = &[
    ("queue_depth", SignalNeeds::Pool),
    ("running", SignalNeeds::Pool),
    ("failures", SignalNeeds::Template),
    ("successes", SignalNeeds::Template),
    ("restarts", SignalNeeds::Service),
    ("headroom_memory", SignalNeeds::Nothing),
    ("headroom_pids", SignalNeeds::Nothing),
    ("psi_cpu_some", SignalNeeds::Nothing),
    ("psi_cpu_full", SignalNeeds::Nothing),
    ("psi_memory_some", SignalNeeds::Nothing),
    ("psi_memory_full", SignalNeeds::Nothing),
    ("psi_io_some", SignalNeeds::Nothing),
    ("psi_io_full", SignalNeeds::Nothing),
];

/// The names of [`ALERT_SIGNALS`].
pub const ALERT_SIGNAL_NAMES: &[&str] = &[
    "queue_depth",
    "running",
    "failures",
    "successes",
    "restarts",
    "headroom_memory",
    "headroom_pids",
    "psi_cpu_some",
    "psi_cpu_full",
    "psi_memory_some",
    "psi_memory_full",
    "psi_io_some",
    "psi_io_full",
];

/// Every comparison, as written in `op`.
pub const ALERT_OPS: &[&str] = &[">", ">=", "<", "<=", "==", "!="];

impl AlertSignal {
    /// Build the signal `name` with its label (`None` for label-free
    /// signals); `None` for an unknown name.
    pub fn new(name: &str, label: Option<String>) -> Option<AlertSignal> {
        let label = || label.clone().unwrap_or_default();
        let psi = |resource, full| Some(AlertSignal::Psi { resource, full });
        match name {
            "queue_depth" => Some(AlertSignal::QueueDepth { pool: label() }),
            "running" => Some(AlertSignal::Running { pool: label() }),
            "failures" => Some(AlertSignal::Failures { template: label() }),
            "successes" => Some(AlertSignal::Successes { template: label() }),
            "restarts" => Some(AlertSignal::Restarts { service: label() }),
            "headroom_memory" => Some(AlertSignal::HeadroomMemory),
            "headroom_pids" => Some(AlertSignal::HeadroomPids),
            "psi_cpu_some" => psi(PsiResource::Cpu, false),
            "psi_cpu_full" => psi(PsiResource::Cpu, true),
            "psi_memory_some" => psi(PsiResource::Memory, false),
            "psi_memory_full" => psi(PsiResource::Memory, true),
            "psi_io_some" => psi(PsiResource::Io, false),
            "psi_io_full" => psi(PsiResource::Io, true),
            _ => None,
        }
    }

    /// What the signal `name` needs, if it is one.
    pub fn needs(name: &str) -> Option<SignalNeeds> {
        ALERT_SIGNALS.iter().find(|(n, _)| *n == name).map(|(_, needs)| *needs)
    }

    /// Whether it counts events in a window (rather than sampling a level).
    pub fn is_count(&self) -> bool {
        matches!(
            self,
            AlertSignal::Failures { .. }
                | AlertSignal::Successes { .. }
                | AlertSignal::Restarts { .. }
        )
    }

    /// The service, template or pool it is about, if any: the event's unit.
    pub fn unit(&self) -> &str {
        match self {
            AlertSignal::QueueDepth { pool } | AlertSignal::Running { pool } => pool,
            AlertSignal::Failures { template } | AlertSignal::Successes { template } => template,
            AlertSignal::Restarts { service } => service,
            _ => "",
        }
    }
}

impl fmt::Display for AlertSignal {
    /// `queue_depth{pool=default}`, `restarts{service=worker}`, `psi_io_full`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertSignal::QueueDepth { pool } => write!(f, "queue_depth{{pool={pool}}}"),
            AlertSignal::Running { pool } => write!(f, "running{{pool={pool}}}"),
            AlertSignal::Failures { template } => write!(f, "failures{{template={template}}}"),
            AlertSignal::Successes { template } => write!(f, "successes{{template={template}}}"),
            AlertSignal::Restarts { service } => write!(f, "restarts{{service={service}}}"),
            AlertSignal::HeadroomMemory => f.write_str("headroom_memory"),
            AlertSignal::HeadroomPids => f.write_str("headroom_pids"),
            AlertSignal::Psi { resource, full } => {
                let resource = match resource {
                    PsiResource::Cpu => "cpu",
                    PsiResource::Memory => "memory",
                    PsiResource::Io => "io",
                };
                write!(f, "psi_{resource}_{}", if *full { "full" } else { "some" })
            }
        }
    }
}

/// A comparison of a signal with the rule's `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl AlertOp {
    /// Parse `op`.
    pub fn parse(text: &str) -> Option<AlertOp> {
        Some(match text {
            ">" => AlertOp::Gt,
            ">=" => AlertOp::Ge,
            "<" => AlertOp::Lt,
            "<=" => AlertOp::Le,
            "==" => AlertOp::Eq,
            "!=" => AlertOp::Ne,
            _ => return None,
        })
    }

    /// Whether `signal op value` holds.
    pub fn holds(self, signal: f64, value: f64) -> bool {
        match self {
            AlertOp::Gt => signal > value,
            AlertOp::Ge => signal >= value,
            AlertOp::Lt => signal < value,
            AlertOp::Le => signal <= value,
            AlertOp::Eq => signal == value,
            AlertOp::Ne => signal != value,
        }
    }

    /// As written.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertOp::Gt => ">",
            AlertOp::Ge => ">=",
            AlertOp::Lt => "<",
            AlertOp::Le => "<=",
            AlertOp::Eq => "==",
            AlertOp::Ne => "!=",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_name_builds_and_reads_back() {
        assert_eq!(ALERT_SIGNAL_NAMES.len(), ALERT_SIGNALS.len());
        for (name, needs) in ALERT_SIGNALS {
            let label = (*needs != SignalNeeds::Nothing).then(|| "x".to_owned());
            let signal = AlertSignal::new(name, label).unwrap();
            assert!(signal.to_string().starts_with(name), "{signal}");
            let counted = matches!(needs, SignalNeeds::Template | SignalNeeds::Service);
            assert_eq!(signal.is_count(), counted, "{name}");
        }
        assert!(AlertSignal::new("queue_lenght", None).is_none());
    }

    #[test]
    fn every_op_parses_and_compares() {
        for op in ALERT_OPS {
            assert_eq!(AlertOp::parse(op).unwrap().as_str(), *op);
        }
        assert!(AlertOp::parse(">").unwrap().holds(4.0, 3.0));
        assert!(!AlertOp::parse(">").unwrap().holds(3.0, 3.0));
        assert!(AlertOp::parse("==").unwrap().holds(0.0, 0.0));
        assert!(AlertOp::parse("<=").unwrap().holds(3.0, 3.0));
        assert!(AlertOp::parse("=").is_none());
    }
}
