//! The plan as doctor checks: each pool's configured `max_concurrency`
//! against what the plan recommends, and whether the services fit at all.

use super::Plan;
use stockade_proto::{Check, CheckStatus};

/// A pool's `max_concurrency` as the spec declares it (the host crate does
/// not depend on the spec crate; the CLI converts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Configured {
    /// A fixed number.
    Fixed(u32),
    /// `"auto"` between bounds.
    Auto {
        /// Lower bound.
        min: u32,
        /// Upper bound.
        max: u32,
    },
}

/// One check per pool (`plan_pool`, value = the pool's name) plus
/// `plan_services`: fail when even one agent (or the services) cannot fit,
/// warn when the configuration admits more than fit, ok otherwise.
pub fn plan_checks(plan: &Plan, pools: &[(String, Configured)]) -> Vec<Check> {
    let mut checks = Vec::new();
    if plan.services.replicas > 0 {
        checks.push(Check {
            id: "plan_services".into(),
            status: if plan.services.overrun.is_some() {
                CheckStatus::Fail
            } else {
                CheckStatus::Ok
            },
            value: Some(format!("{} replicas", plan.services.replicas)),
            limit: None,
            message: match plan.services.overrun {
                Some(d) => {
                    format!("the services alone need more {} than the host has free", d.name())
                }
                None => "the services fit".into(),
            },
            fix: None,
        });
    }
    for (name, configured) in pools {
        let Some(pool) = plan.pools.iter().find(|p| &p.pool == name) else { continue };
        let configured_max = match *configured {
            Configured::Fixed(n) => n,
            Configured::Auto { max, .. } => max,
        };
        let floor = match *configured {
            Configured::Fixed(n) => n,
            Configured::Auto { min, .. } => min,
        };
        let shown = match *configured {
            Configured::Fixed(n) => n.to_string(),
            Configured::Auto { min, max } => format!("auto {min}..{max}"),
        };
        let (status, message, fix) = match (pool.recommended_max_concurrency, pool.binding) {
            (Some(_), Some(d)) if pool.fits_alone == Some(0) => (
                CheckStatus::Fail,
                format!(
                    "not one agent fits now: {} runs out first (1 is admitted once room frees)",
                    d.name()
                ),
                None,
            ),
            (None, _) | (_, None) => (
                CheckStatus::Unknown,
                "no declared limit meets a known host limit; declare limits.memory and limits.pids"
                    .to_string(),
                None,
            ),
            (Some(0), Some(d)) => (
                CheckStatus::Fail,
                format!("not one agent fits: {} runs out first", d.name()),
                None,
            ),
            (Some(rec), Some(d)) if u64::from(floor) > rec => (
                CheckStatus::Fail,
                format!(
                    "{shown} always admits more than the {rec} that fit ({} binds first)",
                    d.name()
                ),
                Some(format!("[pool.{name}] max_concurrency = {rec}")),
            ),
            (Some(rec), Some(d)) if u64::from(configured_max) > rec => (
                match configured {
                    // auto backs off under pressure, so a high max is only a warning.
                    Configured::Auto { .. } => CheckStatus::Warn,
                    Configured::Fixed(_) => CheckStatus::Fail,
                },
                format!(
                    "{shown} can admit more than the {rec} that fit ({} binds first)",
                    d.name()
                ),
                Some(match configured {
                    Configured::Fixed(_) => format!("[pool.{name}] max_concurrency = {rec}"),
                    Configured::Auto { min, .. } => {
                        format!(
                            "[pool.{name}] max_concurrency = \"auto\"  min = {min}  max = {rec}"
                        )
                    }
                }),
            ),
            (Some(rec), Some(d)) => (
                CheckStatus::Ok,
                format!("{shown} fits; up to {rec} would ({} binds first)", d.name()),
                None,
            ),
        };
        checks.push(Check {
            id: "plan_pool".into(),
            status,
            value: Some(name.clone()),
            limit: pool.recommended_max_concurrency.map(|r| format!("{r} fit")),
            message,
            fix,
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;
    use crate::{AgentNeed, HostFacts, Reserve, plan};
    use stockade_proto::UnitKind;

    fn planned(available_kb: u64) -> Plan {
        let mut f = Fixture::roomy();
        f.set("proc/meminfo", &format!("MemTotal: 25165824 kB\nMemAvailable: {available_kb} kB\n"));
        let (_dir, root) = f.write();
        let agent = AgentNeed {
            name: "agent".into(),
            kind: UnitKind::Job,
            pool: Some("default".into()),
            replicas: 1,
            memory: Some(2 << 30),
            pids: Some(100),
            cpus: None,
            nofile: None,
            observed_peak_memory: None,
            observed_peak_pids: None,
        };
        plan(&[agent], &HostFacts::read(&root), &Reserve::default())
    }

    fn verdict(plan: &Plan, configured: Configured) -> Check {
        plan_checks(plan, &[("default".into(), configured)]).remove(0)
    }

    #[test]
    fn configured_concurrency_is_judged_against_what_fits() {
        let plan = planned(9 << 20); // 9 GiB - 1 GiB reserve = 4 agents of 2 GiB
        assert_eq!(verdict(&plan, Configured::Fixed(4)).status, CheckStatus::Ok);
        let over = verdict(&plan, Configured::Fixed(22));
        assert_eq!(over.status, CheckStatus::Fail);
        assert_eq!(over.fix.as_deref(), Some("[pool.default] max_concurrency = 4"));
        assert_eq!(verdict(&plan, Configured::Auto { min: 1, max: 16 }).status, CheckStatus::Warn);
        assert_eq!(verdict(&plan, Configured::Auto { min: 6, max: 16 }).status, CheckStatus::Fail);
        assert_eq!(verdict(&plan, Configured::Auto { min: 1, max: 4 }).status, CheckStatus::Ok);
    }

    #[test]
    fn nothing_fitting_fails_and_unknown_host_is_unknown() {
        let tight = planned(2 << 20);
        let none = verdict(&tight, Configured::Fixed(1));
        assert_eq!(none.status, CheckStatus::Fail);
        assert!(none.message.contains("not one agent fits now: memory"), "{}", none.message);
        let (_dir, root) = Fixture::default().write();
        let blind = plan(&[], &HostFacts::read(&root), &Reserve::default());
        assert!(plan_checks(&blind, &[("default".into(), Configured::Fixed(1))]).is_empty());
    }
}
