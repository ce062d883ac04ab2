//! [`diff`]: what reloading from one validated [`Spec`] to another changes,
//! as a [`ReloadPlan`] — pure, no engine state (the engine adds notes such as
//! how many running jobs keep their template, and carries the plan out).
//!
//! The rule per service: a change a running process can take without a new
//! process is an `update` (cgroup limits, restart policy, backoff, start
//! limit, stop signal/grace, success codes, dependencies); anything that
//! needs a new process is a `restart` (command, environment, cwd, walls,
//! rlimits, replicas, probes). A job template's change is always an `update`:
//! new runs take the new template, running ones keep theirs (their cgroup
//! limits are written live). Pools change in place. Alert rules and the
//! monitor's settings (all but its webhook) apply at once.

use stockade_proto::{
    AlertChange, Limits, PlanAction, PlanUnit, ReloadPlan, SettingChange, UnitChange,
};

use crate::{AlertSpec, JobSpec, PoolSpec, ServiceSpec, Spec};

/// The plan that turns a daemon running `old` into one running `new`.
pub fn diff(old: &Spec, new: &Spec) -> ReloadPlan {
    let mut units = Vec::new();
    for name in new.start_order() {
        let Some(after) = new.service(name) else { continue };
        units.push(match old.service(name) {
            None => unit(PlanUnit::Service, name, PlanAction::Add, Vec::new()),
            Some(before) => service_change(before, after),
        });
    }
    // Removed services, dependents first: the order they stop in.
    for name in old.start_order().into_iter().rev() {
        if new.service(name).is_none() {
            units.push(unit(PlanUnit::Service, name, PlanAction::Remove, Vec::new()));
        }
    }
    for (name, after) in &new.jobs {
        units.push(match old.jobs.get(name) {
            None => unit(PlanUnit::Job, name, PlanAction::Add, Vec::new()),
            Some(before) => job_change(before, after),
        });
    }
    for name in old.jobs.keys().filter(|n| !new.jobs.contains_key(*n)) {
        units.push(unit(PlanUnit::Job, name, PlanAction::Remove, Vec::new()));
    }
    for (name, after) in &new.pools {
        units.push(match old.pools.get(name) {
            None => unit(PlanUnit::Pool, name, PlanAction::Add, Vec::new()),
            Some(before) => pool_change(before, after),
        });
    }
    for name in old.pools.keys().filter(|n| !new.pools.contains_key(*n)) {
        units.push(unit(PlanUnit::Pool, name, PlanAction::Remove, Vec::new()));
    }
    ReloadPlan {
        spec: new.path.display().to_string(),
        units,
        settings: settings(old, new),
        alerts: alerts(&old.alerts, &new.alerts),
        applied: false,
    }
}

/// The rules added, changed and removed, in the new spec's order, removed
/// ones last.
fn alerts(old: &[AlertSpec], new: &[AlertSpec]) -> Vec<AlertChange> {
    let find = |rules: &[AlertSpec], name: &str| rules.iter().position(|r| r.name == name);
    let mut out = Vec::new();
    for after in new {
        let (action, changes) = match find(old, &after.name).map(|i| &old[i]) {
            None => (PlanAction::Add, Vec::new()),
            Some(before) if before == after => continue,
            Some(before) => (PlanAction::Update, alert_changes(before, after)),
        };
        out.push(AlertChange { name: after.name.clone(), action, changes });
    }
    for before in old.iter().filter(|r| find(new, &r.name).is_none()) {
        let (action, changes) = (PlanAction::Remove, Vec::new());
        out.push(AlertChange { name: before.name.clone(), action, changes });
    }
    out
}

fn alert_changes(old: &AlertSpec, new: &AlertSpec) -> Vec<String> {
    let mut changes = Vec::new();
    if old.signal != new.signal {
        changes.push(format!("signal {} → {}", old.signal, new.signal));
    }
    if old.op != new.op {
        changes.push(format!("op {} → {}", old.op.as_str(), new.op.as_str()));
    }
    if old.value != new.value {
        changes.push(format!("value {} → {}", old.value, new.value));
    }
    if old.window != new.window {
        changes.push("window".to_string());
    }
    if old.for_ != new.for_ {
        changes.push("for".to_string());
    }
    changes
}

fn unit(kind: PlanUnit, name: &str, action: PlanAction, changes: Vec<String>) -> UnitChange {
    UnitChange { kind, name: name.to_string(), action, changes, note: None }
}

fn service_change(old: &ServiceSpec, new: &ServiceSpec) -> UnitChange {
    let mut restart = Vec::new();
    let mut update = Vec::new();
    let mut field = |changed: bool, name: &str, needs_process: bool| {
        if changed {
            if needs_process {
                restart.push(name.to_string())
            } else {
                update.push(name.to_string())
            }
        }
    };
    field(old.command != new.command, "command", true);
    field(old.env != new.env || old.env_file != new.env_file, "env", true);
    field(old.inherit_env != new.inherit_env, "inherit_env", true);
    field(old.cwd != new.cwd, "cwd", true);
    field(old.isolation != new.isolation, "walls", true);
    field(old.replicas != new.replicas, "replicas", true);
    field(old.readiness != new.readiness, "readiness", true);
    field(old.liveness != new.liveness, "liveness", true);
    field(old.restart != new.restart, "restart", false);
    field(old.exit_codes != new.exit_codes, "exit_codes", false);
    field(old.backoff != new.backoff, "backoff", false);
    field(old.start_limit != new.start_limit, "start_limit", false);
    field(old.stop != new.stop, "stop", false);
    field(old.depends_on != new.depends_on, "depends_on", false);
    let (live, spawn_only) = limit_changes(&old.limits, &new.limits);
    restart.extend(spawn_only);
    update.extend(live);
    // A field this list does not name yet restarts the service (the safe
    // side), never a silent keep.
    if restart.is_empty() && update.is_empty() && old != new {
        restart.push("other settings".to_string());
    }
    let action = if !restart.is_empty() {
        PlanAction::Restart
    } else if !update.is_empty() {
        PlanAction::Update
    } else {
        PlanAction::Keep
    };
    restart.extend(update);
    unit(PlanUnit::Service, &new.name, action, restart)
}

fn job_change(old: &JobSpec, new: &JobSpec) -> UnitChange {
    let mut changes = Vec::new();
    let mut field = |changed: bool, name: &str| {
        if changed {
            changes.push(name.to_string());
        }
    };
    field(old.command != new.command, "command");
    field(old.env != new.env || old.env_file != new.env_file, "env");
    field(old.inherit_env != new.inherit_env, "inherit_env");
    field(old.submit_env != new.submit_env, "submit_env");
    field(old.cwd != new.cwd, "cwd");
    field(old.isolation != new.isolation, "walls");
    field(old.pool != new.pool, "pool");
    field(old.timeout != new.timeout, "timeout");
    field(old.priority != new.priority, "priority");
    field(old.retries != new.retries, "retries");
    field(old.on_interrupt != new.on_interrupt, "on_interrupt");
    field(old.schedule != new.schedule, "schedule");
    let (live, spawn_only) = limit_changes(&old.limits, &new.limits);
    changes.extend(live);
    changes.extend(spawn_only);
    // A field this list does not name yet still shows, never a silent keep.
    if changes.is_empty() && old != new {
        changes.push("other settings".to_string());
    }
    let action = if changes.is_empty() { PlanAction::Keep } else { PlanAction::Update };
    unit(PlanUnit::Job, &new.name, action, changes)
}

fn pool_change(old: &PoolSpec, new: &PoolSpec) -> UnitChange {
    let mut changes = Vec::new();
    if old.max_concurrency != new.max_concurrency {
        changes.push(format!(
            "max_concurrency {} → {}",
            concurrency(old.max_concurrency),
            concurrency(new.max_concurrency)
        ));
    }
    if old.max_queued != new.max_queued {
        changes.push(format!("max_queued {} → {}", old.max_queued, new.max_queued));
    }
    if old.queue_timeout != new.queue_timeout {
        changes.push("queue_timeout".to_string());
    }
    let action = if changes.is_empty() { PlanAction::Keep } else { PlanAction::Update };
    unit(PlanUnit::Pool, &new.name, action, changes)
}

fn concurrency(c: crate::Concurrency) -> String {
    match c {
        crate::Concurrency::Fixed(n) => n.to_string(),
        crate::Concurrency::Auto { min, max } => format!("auto({min}..{max})"),
    }
}

/// The limits that differ: those a live cgroup takes (`memory`,
/// `memory_high`, `cpus`, `pids`), and the rlimits, fixed at spawn.
pub fn limit_changes(old: &Limits, new: &Limits) -> (Vec<String>, Vec<String>) {
    let mut live = Vec::new();
    let mut spawn_only = Vec::new();
    let size = |v: Option<u64>| v.map_or("unlimited".to_string(), bytes);
    let count = |v: Option<u64>| v.map_or("unlimited".to_string(), |n| n.to_string());
    let push = |to: &mut Vec<String>, name: &str, a: String, b: String| {
        if a != b {
            to.push(format!("{name} {a} → {b}"));
        }
    };
    push(&mut live, "memory", size(old.memory), size(new.memory));
    push(&mut live, "memory_high", size(old.memory_high), size(new.memory_high));
    let cpus = |v: Option<f64>| v.map_or("unlimited".to_string(), |c| c.to_string());
    push(&mut live, "cpus", cpus(old.cpus), cpus(new.cpus));
    push(&mut live, "pids", count(old.pids), count(new.pids));
    push(&mut spawn_only, "nofile", count(old.nofile), count(new.nofile));
    push(&mut spawn_only, "nproc", count(old.nproc), count(new.nproc));
    push(&mut spawn_only, "core", size(old.core), size(new.core));
    (live, spawn_only)
}

/// `1.5 GiB`, `64 MiB`, `512 B`: exact binary units when they fit.
fn bytes(n: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        let size = 1u64 << shift;
        if n >= size {
            return if n.is_multiple_of(size) {
                format!("{} {unit}", n / size)
            } else {
                format!("{:.1} {unit}", n as f64 / size as f64)
            };
        }
    }
    format!("{n} B")
}

/// Settings the running daemon takes now: its logs' rotation (the engine),
/// `[logs]` and `workspace_retention` (the retention sweep reads the running
/// spec each time and sweeps at once after a reload that changed them) and
/// `[monitor]` (the monitor follows the running spec; all but its webhook);
/// every other difference — listeners, state dir, store, reserves, the
/// webhook — waits for the next daemon start.
fn settings(old: &Spec, new: &Spec) -> Vec<SettingChange> {
    let (a, b) = (&old.daemon, &new.daemon);
    let mut out = Vec::new();
    let mut key = |changed: bool, key: &str, live: bool| {
        if changed {
            out.push(SettingChange { key: key.to_string(), live });
        }
    };
    key(a.log_max_size != b.log_max_size, "daemon.log_max_size", true);
    key(a.log_keep != b.log_keep, "daemon.log_keep", true);
    key(a.state_dir != b.state_dir, "daemon.state_dir", false);
    key(a.listen != b.listen, "daemon.listen", false);
    key(a.token != b.token, "daemon.token", false);
    key(a.socket_group != b.socket_group, "daemon.socket_group", false);
    key(a.id_range != b.id_range, "daemon.id_range", false);
    key(a.event_retention != b.event_retention, "daemon.event_retention", false);
    key(a.workspace_retention != b.workspace_retention, "daemon.workspace_retention", true);
    key(a.reserve_memory != b.reserve_memory, "daemon.reserve_memory", false);
    key(a.reserve_tasks != b.reserve_tasks, "daemon.reserve_tasks", false);
    key(a.synchronous != b.synchronous, "daemon.synchronous", false);
    key(a.on_stop != b.on_stop, "daemon.on_stop", false);
    key(a.max_connections != b.max_connections, "daemon.max_connections", false);
    key(
        a.max_connections_per_peer != b.max_connections_per_peer,
        "daemon.max_connections_per_peer",
        false,
    );
    key(a.idle_timeout != b.idle_timeout, "daemon.idle_timeout", false);
    key(a.header_timeout != b.header_timeout, "daemon.header_timeout", false);
    key(a.reserve_fds != b.reserve_fds, "daemon.reserve_fds", false);
    let (a, b) = (&old.logs, &new.logs);
    key(a.max_age != b.max_age, "logs.max_age", true);
    key(a.max_size != b.max_size, "logs.max_size", true);
    key(a.postmortem_retention != b.postmortem_retention, "logs.postmortem_retention", true);
    let (a, b) = (&old.monitor, &new.monitor);
    key(a.enabled != b.enabled, "monitor.enabled", true);
    key(a.interval != b.interval, "monitor.interval", true);
    key(a.thresholds != b.thresholds, "monitor.thresholds", true);
    key(a.max_restarts != b.max_restarts, "monitor.max_restarts", true);
    key(a.restart_window != b.restart_window, "monitor.restart_window", true);
    key(a.leak_horizon != b.leak_horizon, "monitor.leak_horizon", true);
    key(a.leak_min_span != b.leak_min_span, "monitor.leak_min_span", true);
    key(a.webhook != b.webhook, "monitor.webhook", false);
    out
}
