use super::*;
use crate::fixture::Fixture;

fn job(name: &str, pool: &str, memory: u64, pids: u64) -> AgentNeed {
    AgentNeed {
        name: name.into(),
        kind: UnitKind::Job,
        pool: Some(pool.into()),
        replicas: 1,
        memory: Some(memory),
        pids: Some(pids),
        cpus: Some(1.0),
        nofile: Some(1024),
        observed_peak_memory: None,
        observed_peak_pids: None,
    }
}

fn service(name: &str, replicas: u32, memory: u64, pids: u64) -> AgentNeed {
    AgentNeed { kind: UnitKind::Service, pool: None, replicas, ..job(name, "", memory, pids) }
}

/// The field report's stack: a router, 22 players, an agent job pool.
fn traitorsim() -> Vec<AgentNeed> {
    vec![
        service("router", 1, 512 << 20, 200),
        service("player", 22, 256 << 20, 64),
        job("agent", "default", 2 << 30, 1000),
    ]
}

fn facts(fixture: &Fixture) -> HostFacts {
    let (_dir, root) = fixture.write();
    HostFacts::read(&root)
}

#[test]
fn on_the_field_reports_host_tasks_bind_and_nothing_is_left_for_jobs() {
    let plan = plan(&traitorsim(), &facts(&Fixture::field_report()), &Reserve::default());
    assert_eq!(plan.budget.free.tasks, Some(0));
    assert_eq!(plan.services.overrun, Some(Dimension::Tasks));
    let pool = &plan.pools[0];
    assert_eq!(pool.binding, Some(Dimension::Tasks));
    assert_eq!(pool.fits_alone, Some(0));
    assert_eq!(pool.recommended_max_concurrency, Some(1), "never 0: one runs once room frees");
    assert!(
        plan.notes.iter().any(|n| n.contains("services alone need more tasks")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn on_a_roomy_host_memory_binds_and_pools_share_what_services_leave() {
    let mut f = Fixture::roomy();
    // 16 GiB available: 1 GiB reserve, services take 0.5 + 22 * 0.25 = 6 GiB.
    f.set("proc/meminfo", "MemTotal: 25165824 kB\nMemAvailable: 16777216 kB\n");
    let mut needs = traitorsim();
    needs.push(job("fixer", "ci", 1 << 30, 100));
    let plan = plan(&needs, &facts(&f), &Reserve::default());
    assert_eq!(plan.services.replicas, 23);
    assert_eq!(plan.services.total.memory, Some(6 << 30));
    assert_eq!(plan.services.left.memory, Some(9 << 30));
    let by_name = |name: &str| plan.pools.iter().find(|p| p.pool == name).unwrap();
    let default = by_name("default");
    assert_eq!((default.fits_alone, default.binding), (Some(4), Some(Dimension::Memory)));
    assert_eq!(default.recommended_max_concurrency, Some(2), "9 GiB / 2 GiB = 4, two pools share");
    let ci = by_name("ci");
    assert_eq!(
        (ci.fits_alone, ci.recommended_max_concurrency),
        (Some(9), Some(4)),
        "9 fit; 8 CPUs / 2 pools = 4"
    );
    assert_eq!(ci.full_speed, Some(8), "8 CPUs / 1.0");
}

#[test]
fn observed_peaks_replace_declared_limits() {
    let mut f = Fixture::roomy();
    f.set("proc/meminfo", "MemTotal: 25165824 kB\nMemAvailable: 9437184 kB\n");
    let mut agent = job("agent", "default", 2 << 30, 1000);
    let declared = plan(std::slice::from_ref(&agent), &facts(&f), &Reserve::default());
    agent.observed_peak_memory = Some(512 << 20);
    let observed = plan(&[agent], &facts(&f), &Reserve::default());
    assert_eq!(declared.pools[0].fits_alone, Some(4));
    assert_eq!(observed.pools[0].fits_alone, Some(16));
    assert_eq!(observed.units[0].memory.unwrap().basis, crate::need::Basis::ObservedPeak);
}

#[test]
fn a_host_with_nothing_readable_plans_nothing_and_does_not_panic() {
    let (_dir, root) = Fixture::default().write();
    let plan = plan(&traitorsim(), &HostFacts::read(&root), &Reserve::default());
    assert_eq!(plan.pools[0].fits_alone, None);
    assert_eq!(plan.pools[0].recommended_max_concurrency, None);
    assert!(plan.budget.inputs.is_empty());
    let _ = render_plan(&plan);
}

#[test]
fn the_plan_renders() {
    let mut f = Fixture::roomy();
    f.set("proc/meminfo", "MemTotal: 25165824 kB\nMemAvailable: 16777216 kB\n");
    let mut needs = traitorsim();
    needs.push(AgentNeed { memory: None, ..job("probe", "ci", 0, 10) });
    insta::assert_snapshot!(render_plan(&plan(&needs, &facts(&f), &Reserve::default())));
}

#[test]
fn cpu_caps_the_recommendation_and_it_is_never_zero() {
    let mut f = Fixture::roomy();
    // 16 GiB free: 64 agents of 256 MiB fit, but the host has its CPUs only.
    f.set("proc/meminfo", "MemTotal: 25165824 kB\nMemAvailable: 16777216 kB\n");
    let small = job("small", "default", 256 << 20, 10);
    let quota = plan(std::slice::from_ref(&small), &facts(&f), &Reserve::default());
    let pool = &quota.pools[0];
    assert!(pool.fits_alone.unwrap() > 50, "{pool:?}");
    let cpus = quota.budget.cpus.map(u64::from).unwrap();
    assert_eq!(pool.recommended_max_concurrency, Some(cpus), "1 CPU each: as many as CPUs");
    let mut no_quota = small.clone();
    no_quota.cpus = None;
    let unquoted = plan(&[no_quota], &facts(&f), &Reserve::default());
    assert_eq!(
        unquoted.pools[0].recommended_max_concurrency,
        Some(cpus),
        "no quota: the CPUs cap it"
    );
    let mut huge = small;
    huge.memory = Some(1 << 40);
    let none = plan(&[huge], &facts(&f), &Reserve::default());
    assert_eq!(none.pools[0].fits_alone, Some(0));
    assert_eq!(none.pools[0].recommended_max_concurrency, Some(1));
}
