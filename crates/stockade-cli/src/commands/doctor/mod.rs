//! `stockade doctor [--json] [--plan [SPEC]] [--cluster]`: every host limit
//! at once, the limits.conf/sysctl.conf lint, with `--plan` how many of the
//! spec's agents fit, and with `--cluster` the spec's `[cluster]` (see
//! `cluster.rs`). All host logic lives in `stockade-host`; this file converts
//! the spec into `AgentNeed`s, fetches observed peaks from the store, and
//! prints.
//!
//! Exit codes: 0 when no check failed (warnings and unknowns included),
//! 1 when at least one check is `fail`.

mod cluster;

use crate::cli::Cli;
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use stockade_host::{
    AgentNeed, Configured, Depth, HostFacts, HostRoot, IdRange, Plan, Reserve, checks, lint_checks,
    plan, plan_checks, render_plan, render_text, rootless_check, walls_checks, worst,
};
use stockade_proto::{Check, CheckStatus, UnitKind};

/// Check the host's limits; with `--plan`, plan a spec's agents against them.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Print a JSON object `{"checks": [...], "plan": {...}}` instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also plan the spec's services and jobs against this host: how many fit,
    /// which limit binds first, the recommended max_concurrency per pool.
    /// Without a value the spec is the one of -f/--file.
    #[arg(long, value_name = "SPEC", num_args = 0..=1)]
    pub plan: Option<Option<PathBuf>>,
    /// Check this systemd unit file's KillMode (default: the unit this runs
    /// under, if systemd started it).
    #[arg(long, value_name = "FILE")]
    pub unit: Option<PathBuf>,
    /// Also check the spec's `[cluster]`: lease settings, this member's name,
    /// clock sync, and (when a member runs on this spec) the database and
    /// every host's lease as that member sees them.
    #[arg(long)]
    pub cluster: bool,
}

/// The `--json` form.
#[derive(Serialize)]
struct Report<'a> {
    checks: &'a [Check],
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<&'a Plan>,
}

/// Run `stockade doctor` on the spec of the global `-f/--file` (and, for
/// `--cluster`, the daemon of `--socket` or that spec).
pub fn run(args: &DoctorArgs, cli: &Cli) -> anyhow::Result<ExitCode> {
    let spec_path = cli.file.as_path();
    let root = HostRoot::default();
    let facts = HostFacts::read_with(&root, Depth::Deep);
    let mut all = checks(&facts);
    // The spec's `[daemon] id_range` when there is a valid spec, else the default.
    let range = stockade_spec::Spec::from_file(spec_path)
        .map(|spec| spec.daemon.id_range)
        .unwrap_or(IdRange::DEFAULT);
    all.extend(walls_checks(&root, &range));
    // SAFETY: geteuid(2) cannot fail and has no preconditions.
    all.push(rootless_check(unsafe { libc::geteuid() }));
    all.extend(lint_checks(&root));
    let planned = match &args.plan {
        None => None,
        Some(path) => {
            let path = path.as_deref().unwrap_or(spec_path);
            let (plan, plan_checks) = plan_spec(path, &facts);
            all.extend(plan_checks);
            plan
        }
    };
    all.extend(unwalled_check(spec_path));
    let unit = match &args.unit {
        Some(file) => Some(
            stockade_host::SystemdUnit::from_file(file)
                .with_context(|| format!("cannot read the unit file {}", file.display()))?,
        ),
        None => stockade_host::SystemdUnit::detect(&root.proc),
    };
    all.extend(stockade_host::kill_mode_check(unit.as_ref()));
    if args.cluster {
        all.extend(cluster::checks(cli));
    }
    if args.json {
        let report = Report { checks: &all, plan: planned.as_ref() };
        crate::render::print_json(&report).context("encoding the report")?;
    } else {
        print!("{}", render_text(&all));
        if let Some(plan) = &planned {
            print!("\nplan:\n{}", render_plan(plan));
        }
    }
    Ok(if worst(&all) == CheckStatus::Fail { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Whether the spec at `path` (when there is a valid one) runs any unit
/// without walls (`isolation = "none"`): a warning naming each.
fn unwalled_check(path: &Path) -> Option<Check> {
    let spec = stockade_spec::Spec::from_file(path).ok()?;
    let services = spec.services.iter().filter(|s| s.isolation.walls().is_none());
    let jobs = spec.jobs.values().filter(|j| j.isolation.walls().is_none());
    let unwalled: Vec<String> = services
        .map(|s| format!("service {}", s.name))
        .chain(jobs.map(|j| format!("job {}", j.name)))
        .collect();
    let (status, message, fix) = if unwalled.is_empty() {
        (CheckStatus::Ok, "every unit of the spec runs walled".to_owned(), None)
    } else {
        (
            CheckStatus::Warn,
            format!(
                "UNWALLED: {} run with isolation = \"none\" — no namespaces, the daemon's user and environment; such an agent can leave its limits",
                unwalled.join(", ")
            ),
            Some("remove isolation = \"none\" from each once it runs walled (mount what it needs with `mounts`)".to_owned()),
        )
    };
    Some(Check {
        id: "unwalled".into(),
        status,
        value: Some(unwalled.len().to_string()),
        limit: None,
        message,
        fix,
    })
}

/// Plan the spec at `path`. A spec that does not validate is an `unknown`
/// `plan` check carrying the spec's own error text, not an error of doctor.
fn plan_spec(path: &Path, facts: &HostFacts) -> (Option<Plan>, Vec<Check>) {
    let spec = match stockade_spec::Spec::from_file(path) {
        Ok(spec) => spec,
        Err(e) => {
            let check = Check {
                id: "plan".into(),
                status: CheckStatus::Unknown,
                value: Some(path.display().to_string()),
                limit: None,
                message: format!("cannot plan: the spec does not validate\n{}", e.render()),
                fix: Some(format!("stockade check -f {}", path.display())),
            };
            return (None, vec![check]);
        }
    };
    let (history, history_note) = History::open(&spec.daemon.state_dir.join("stockade.db"));
    let mut needs = Vec::new();
    for service in &spec.services {
        let limits = service.limits.clone().or(&spec.defaults);
        let mut need = AgentNeed::declared(&service.name, UnitKind::Service, &limits);
        need.replicas = service.replicas;
        needs.push(history.observe(need));
    }
    for job in spec.jobs.values() {
        let limits = job.limits.clone().or(&spec.defaults);
        let mut need = AgentNeed::declared(&job.name, UnitKind::Job, &limits);
        need.pool = Some(job.pool.clone());
        needs.push(history.observe(need));
    }
    let mut plan = plan(&needs, facts, &Reserve::default());
    plan.notes.extend(history_note);
    let pools: Vec<(String, Configured)> = spec
        .pools
        .values()
        .map(|p| {
            let configured = match p.max_concurrency {
                stockade_spec::Concurrency::Fixed(n) => Configured::Fixed(n),
                stockade_spec::Concurrency::Auto { min, max } => Configured::Auto { min, max },
            };
            (p.name.clone(), configured)
        })
        .collect();
    let checks = plan_checks(&plan, &pools);
    (Some(plan), checks)
}

/// Observed peaks from the daemon's store, when it exists and is free.
struct History(Option<stockade_store::Store>);

impl History {
    /// Open the store only if its file exists (doctor never creates one). A
    /// running daemon holds the store's lock; then the plan uses declared
    /// limits only and says so.
    fn open(db: &Path) -> (History, Option<String>) {
        if !db.exists() {
            return (History(None), None);
        }
        match stockade_store::Store::open(db, stockade_store::StoreOptions::default()) {
            Ok(store) => (History(Some(store)), None),
            Err(e) => (
                History(None),
                Some(format!("observed peaks not used: cannot open {}: {e}", db.display())),
            ),
        }
    }

    /// `need` with the peaks of its unit's recent runs, when there are any.
    fn observe(&self, mut need: AgentNeed) -> AgentNeed {
        let peaks = self.0.as_ref().and_then(|store| store.unit_peaks(&need.name).ok().flatten());
        if let Some(peaks) = peaks {
            need.observed_peak_memory = peaks.memory_peak;
            need.observed_peak_pids = peaks.pids_peak;
        }
        need
    }
}
