//! `stockade doctor --plan`: how many of the spec's agents fit on this host,
//! which limit binds first, and the recommended `max_concurrency` per pool —
//! as a pure function of [`AgentNeed`]s, [`HostFacts`] and a [`Reserve`].
//!
//! The rule, so operators can check it by hand (every input is in the output):
//! 1. The budget of each hard dimension is what [`headroom()`] leaves: memory
//!    is `MemAvailable` minus the reserve; tasks the lower of
//!    `kernel.threads-max` and `kernel.pid_max` minus tasks alive minus the
//!    reserve. (Measured now, so agents already running are already spent.)
//! 2. An agent is counted for its observed peak when there is history, else
//!    its declared limit ([`AgentNeed::memory_need`]); a dimension it does
//!    not declare does not bind it.
//! 3. Services run all their replicas at once: their sum comes off the budget first.
//! 4. A pool's slot can run any of its templates, so a pool is sized by the
//!    largest need of its templates in each dimension; what is left after
//!    services is shared equally by the pools.
//! 5. CPU counts in the recommendation, not in what fits: agents past
//!    `full_speed` (online CPUs / the largest declared quota; with no quota,
//!    the CPUs themselves) only wait for a CPU, so the recommended
//!    `max_concurrency` is the lower of the pool's share and its share of
//!    that — and never 0 (one agent is admitted once room frees). File
//!    handles do not bind: `nofile` is a ceiling agents rarely approach, and
//!    `fs.file-max` is checked by the doctor.

mod render;
mod verdict;

pub use render::render_plan;
pub use verdict::{Configured, plan_checks};

use crate::need::Amount;
use crate::{AgentNeed, HostFacts, Reserve, headroom};
use serde::Serialize;
use std::collections::BTreeMap;
use stockade_proto::UnitKind;

/// A limit that caps how many agents fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Host memory (`MemAvailable`).
    Memory,
    /// Host tasks (`kernel.threads-max` / `kernel.pid_max`).
    Tasks,
}

impl Dimension {
    /// The name in plan output.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Memory => "memory",
            Dimension::Tasks => "tasks",
        }
    }
}

/// Amounts in the hard dimensions (`None`: unknown or not declared).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Amounts {
    /// Bytes.
    pub memory: Option<u64>,
    /// Tasks.
    pub tasks: Option<u64>,
}

impl Amounts {
    fn get(&self, d: Dimension) -> Option<u64> {
        match d {
            Dimension::Memory => self.memory,
            Dimension::Tasks => self.tasks,
        }
    }

    /// How many `per` fit in `self`, and the dimension that binds.
    fn fits(&self, per: &Amounts) -> Option<(u64, Dimension)> {
        DIMENSIONS
            .into_iter()
            .filter_map(|d| match (self.get(d), per.get(d)) {
                (Some(budget), Some(need)) if need > 0 => Some((budget / need, d)),
                _ => None,
            })
            .min_by_key(|(count, _)| *count)
    }
}

const DIMENSIONS: [Dimension; 2] = [Dimension::Memory, Dimension::Tasks];

/// The host's budget for agents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    /// Free after the reserve.
    pub free: Amounts,
    /// The reserve subtracted.
    pub reserve: Reserve,
    /// Online CPUs.
    pub cpus: Option<u32>,
    /// How each free amount was computed, one line per dimension.
    pub inputs: Vec<String>,
}

/// One service or job template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitPlan {
    /// Its name.
    pub name: String,
    /// Service or job.
    pub kind: UnitKind,
    /// Its pool (jobs).
    pub pool: Option<String>,
    /// Replicas (services).
    pub replicas: u32,
    /// Memory per agent and its basis.
    pub memory: Option<Amount>,
    /// Tasks per agent and its basis.
    pub tasks: Option<Amount>,
    /// File handles per agent (declared `nofile`).
    pub files: Option<u64>,
    /// CPUs per agent (declared quota).
    pub cpus: Option<f64>,
    /// How many of this agent alone fit in the whole budget.
    pub fits: Option<u64>,
    /// The dimension that binds first.
    pub binding: Option<Dimension>,
}

/// The services' share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServicesPlan {
    /// Replicas of all services.
    pub replicas: u64,
    /// What they take together.
    pub total: Amounts,
    /// The first dimension the services alone overrun, if any.
    pub overrun: Option<Dimension>,
    /// What is left for job pools.
    pub left: Amounts,
}

/// One pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolPlan {
    /// The pool.
    pub pool: String,
    /// Its templates.
    pub templates: Vec<String>,
    /// The largest per-agent need among its templates.
    pub per_agent: Amounts,
    /// How many agents fit if this pool had all the room left after services.
    pub fits_alone: Option<u64>,
    /// The dimension that binds first.
    pub binding: Option<Dimension>,
    /// How many run at full CPU speed at once (never binds).
    pub full_speed: Option<u64>,
    /// The recommended `max_concurrency`: its equal share of what is left.
    pub recommended_max_concurrency: Option<u64>,
    /// The arithmetic, one line each.
    pub inputs: Vec<String>,
}

/// The answer to "how many fit, and what binds".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The host's budget.
    pub budget: Budget,
    /// Every unit, in input order.
    pub units: Vec<UnitPlan>,
    /// Services together.
    pub services: ServicesPlan,
    /// Job pools, by name.
    pub pools: Vec<PoolPlan>,
    /// Things the plan could not take into account.
    pub notes: Vec<String>,
}

/// Plan `needs` on `host`, keeping `reserve` free.
pub fn plan(needs: &[AgentNeed], host: &HostFacts, reserve: &Reserve) -> Plan {
    let budget = budget(host, reserve);
    let mut notes = Vec::new();
    let units: Vec<UnitPlan> = needs.iter().map(|n| unit_plan(n, &budget.free)).collect();
    for unit in &units {
        if unit.memory.is_none() {
            notes.push(format!(
                "`{}` declares no memory limit: memory cannot bind it (set limits.memory)",
                unit.name
            ));
        }
    }
    let services = services_plan(&units, &budget.free);
    if let Some(d) = services.overrun {
        notes.push(format!("the services alone need more {} than the host has free", d.name()));
    }
    let pools = pool_plans(&units, &services.left, budget.cpus);
    Plan { budget, units, services, pools, notes }
}

fn budget(host: &HostFacts, reserve: &Reserve) -> Budget {
    let room = headroom(host, reserve);
    let mut inputs = Vec::new();
    if let (Ok(m), Some(free)) = (&host.memory, room.memory) {
        inputs.push(format!(
            "memory: {} available - {} reserve = {}",
            stockade_linux::human_bytes(m.available),
            stockade_linux::human_bytes(reserve.memory),
            stockade_linux::human_bytes(free)
        ));
    }
    if let (Some((ceiling, max)), Ok(tasks), Some(free)) =
        (host.task_ceiling(), &host.tasks, room.tasks)
    {
        inputs.push(format!(
            "tasks: {max} {} - {} alive - {} reserve = {free}",
            ceiling.sysctl(),
            tasks.total,
            reserve.tasks
        ));
    }
    Budget {
        free: Amounts { memory: room.memory, tasks: room.tasks },
        reserve: *reserve,
        cpus: host.cpus.as_ref().ok().copied(),
        inputs,
    }
}

fn per_agent(unit: &UnitPlan) -> Amounts {
    Amounts { memory: unit.memory.map(|a| a.value), tasks: unit.tasks.map(|a| a.value) }
}

fn unit_plan(need: &AgentNeed, free: &Amounts) -> UnitPlan {
    let mut unit = UnitPlan {
        name: need.name.clone(),
        kind: need.kind,
        pool: need.pool.clone(),
        replicas: need.replicas,
        memory: need.memory_need(),
        tasks: need.tasks_need(),
        files: need.nofile,
        cpus: need.cpus,
        fits: None,
        binding: None,
    };
    if let Some((count, d)) = free.fits(&per_agent(&unit)) {
        unit.fits = Some(count);
        unit.binding = Some(d);
    }
    unit
}

fn services_plan(units: &[UnitPlan], free: &Amounts) -> ServicesPlan {
    let mut total = Amounts { memory: Some(0), tasks: Some(0) };
    let mut replicas = 0u64;
    for unit in units.iter().filter(|u| u.kind == UnitKind::Service) {
        let n = u64::from(unit.replicas);
        replicas += n;
        let per = per_agent(unit);
        let add = |sum: &mut Option<u64>, per: Option<u64>| {
            if let (Some(s), Some(p)) = (sum.as_mut(), per) {
                *s = s.saturating_add(p.saturating_mul(n));
            }
        };
        add(&mut total.memory, per.memory);
        add(&mut total.tasks, per.tasks);
    }
    let mut overrun = None;
    let mut left = Amounts::default();
    for d in DIMENSIONS {
        let (Some(f), Some(t)) = (free.get(d), total.get(d)) else { continue };
        if t > f && overrun.is_none() {
            overrun = Some(d);
        }
        let slot = match d {
            Dimension::Memory => &mut left.memory,
            Dimension::Tasks => &mut left.tasks,
        };
        *slot = Some(f.saturating_sub(t));
    }
    ServicesPlan { replicas, total, overrun, left }
}

fn pool_plans(units: &[UnitPlan], left: &Amounts, cpus: Option<u32>) -> Vec<PoolPlan> {
    let mut by_pool: BTreeMap<String, Vec<&UnitPlan>> = BTreeMap::new();
    for unit in units.iter().filter(|u| u.kind == UnitKind::Job) {
        by_pool
            .entry(unit.pool.clone().unwrap_or_else(|| "default".into()))
            .or_default()
            .push(unit);
    }
    let shares = by_pool.len() as u64;
    by_pool
        .into_iter()
        .map(|(pool, templates)| {
            let mut per = Amounts::default();
            let mut max_cpus: Option<f64> = None;
            for t in &templates {
                let p = per_agent(t);
                per.memory = per.memory.max(p.memory);
                per.tasks = per.tasks.max(p.tasks);
                if let Some(c) = t.cpus {
                    max_cpus = Some(max_cpus.map_or(c, |m: f64| m.max(c)));
                }
            }
            let fit = left.fits(&per);
            let full_speed = match (cpus, max_cpus) {
                (Some(n), Some(c)) if c > 0.0 => Some((f64::from(n) / c).floor() as u64),
                _ => None,
            };
            // CPU counts: more agents than run at full speed only queue for
            // the CPUs, so the share is capped there too (a pool whose
            // templates declare no quota is capped at the host's CPUs).
            let cpu_cap = full_speed.or(cpus.map(u64::from)).map(|n| (n / shares).max(1));
            // Never 0: a pool with max_concurrency 0 runs nothing, and one
            // agent always fits once the host frees room (admission waits
            // for it); "not one fits now" is the verdict's to say.
            let recommended = fit.map(|(count, _)| {
                let share = (count / shares).max(1);
                cpu_cap.map_or(share, |cap| share.min(cap))
            });
            let mut inputs = Vec::new();
            for d in DIMENSIONS {
                if let (Some(l), Some(p)) = (left.get(d), per.get(d))
                    && p > 0
                {
                    let show = |v: u64| match d {
                        Dimension::Memory => stockade_linux::human_bytes(v),
                        _ => v.to_string(),
                    };
                    inputs.push(format!(
                        "{}: {} left after services / {} per agent = {}",
                        d.name(),
                        show(l),
                        show(p),
                        l / p
                    ));
                }
            }
            if shares > 1
                && let Some((count, _)) = fit
            {
                inputs.push(format!("shared equally by {shares} pools: {count} / {shares}"));
            }
            match (cpus, max_cpus, full_speed) {
                (Some(n), Some(c), Some(fs)) => inputs.push(format!(
                    "cpu: {n} CPUs / {c} per agent = {fs} at full speed; the recommendation stays within it"
                )),
                (Some(n), _, _) => inputs.push(format!(
                    "cpu: {n} CPUs, no quota declared: at most {n} at full speed; the recommendation stays within it"
                )),
                _ => {}
            }
            PoolPlan {
                pool,
                templates: templates.iter().map(|t| t.name.clone()).collect(),
                per_agent: per,
                fits_alone: fit.map(|(c, _)| c),
                binding: fit.map(|(_, d)| d),
                full_speed,
                recommended_max_concurrency: recommended,
                inputs,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
