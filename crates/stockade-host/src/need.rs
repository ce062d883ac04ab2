//! [`AgentNeed`]: what one kind of agent asks of the host, from its declared
//! limits and (once there is history) its observed peaks.

use serde::Serialize;
use stockade_proto::UnitKind;

/// The per-agent needs of one service or job template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentNeed {
    /// The service or job template name.
    pub name: String,
    /// Service or job.
    pub kind: UnitKind,
    /// The pool a job template queues in (`None` for services).
    pub pool: Option<String>,
    /// Replicas of a service (1 for a job template: its count is the pool's concurrency).
    pub replicas: u32,
    /// Declared memory limit, bytes.
    pub memory: Option<u64>,
    /// Declared `pids.max`.
    pub pids: Option<u64>,
    /// Declared CPU quota, in CPUs.
    pub cpus: Option<f64>,
    /// Declared `RLIMIT_NOFILE`.
    pub nofile: Option<u64>,
    /// Highest memory charge seen in past runs, bytes.
    pub observed_peak_memory: Option<u64>,
    /// Highest task count seen in past runs.
    pub observed_peak_pids: Option<u64>,
}

impl AgentNeed {
    /// One agent of `name` with its declared limits and no history yet.
    pub fn declared(name: &str, kind: UnitKind, limits: &stockade_proto::Limits) -> AgentNeed {
        AgentNeed {
            name: name.to_string(),
            kind,
            pool: None,
            replicas: 1,
            memory: limits.memory,
            pids: limits.pids,
            cpus: limits.cpus,
            nofile: limits.nofile,
            observed_peak_memory: None,
            observed_peak_pids: None,
        }
    }
}

/// Where a per-agent amount came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The limit in the spec: the most the agent can take.
    Declared,
    /// The peak seen in history: what the agent really takes.
    ObservedPeak,
}

impl Basis {
    /// How the plan names it.
    pub fn describe(self) -> &'static str {
        match self {
            Basis::Declared => "declared limit",
            Basis::ObservedPeak => "observed peak",
        }
    }
}

/// A per-agent amount and its basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Amount {
    /// The amount.
    pub value: u64,
    /// Where it came from.
    pub basis: Basis,
}

impl AgentNeed {
    /// Memory one agent is counted for: the observed peak when there is
    /// history (never above the declared limit, which the box enforces),
    /// otherwise the declared limit.
    pub fn memory_need(&self) -> Option<Amount> {
        pick(self.observed_peak_memory, self.memory)
    }

    /// Tasks one agent is counted for, by the same rule.
    pub fn tasks_need(&self) -> Option<Amount> {
        pick(self.observed_peak_pids, self.pids)
    }
}

fn pick(observed: Option<u64>, declared: Option<u64>) -> Option<Amount> {
    match (observed, declared) {
        (Some(o), Some(d)) => Some(Amount { value: o.min(d), basis: Basis::ObservedPeak }),
        (Some(o), None) => Some(Amount { value: o, basis: Basis::ObservedPeak }),
        (None, Some(d)) => Some(Amount { value: d, basis: Basis::Declared }),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_peaks_win_but_never_exceed_the_declared_limit() {
        let mut need = AgentNeed {
            name: "agent".into(),
            kind: UnitKind::Job,
            pool: None,
            replicas: 1,
            memory: Some(2 << 30),
            pids: Some(1000),
            cpus: None,
            nofile: None,
            observed_peak_memory: None,
            observed_peak_pids: Some(40),
        };
        assert_eq!(need.memory_need(), Some(Amount { value: 2 << 30, basis: Basis::Declared }));
        assert_eq!(need.tasks_need(), Some(Amount { value: 40, basis: Basis::ObservedPeak }));
        need.observed_peak_memory = Some(3 << 30);
        assert_eq!(need.memory_need().unwrap().value, 2 << 30);
        need.memory = None;
        assert_eq!(need.memory_need().unwrap().value, 3 << 30);
    }
}
