//! `stockade_spec::diff`: one table row per kind of change — which action
//! each unit gets and what the plan names.

use stockade_proto::{PlanAction, PlanUnit, ReloadPlan};
use stockade_spec::diff;

use crate::parse_ok as valid;

const BASE: &str = r#"
[service.db]
command = ["db"]
limits = { memory = "64MiB", pids = 32 }

[service.api]
command = ["api"]
depends_on = { db = "started" }

[service.web]
command = ["web"]
depends_on = { api = "started" }

[job.train]
command = ["train"]
pool = "gpu"

[pool.gpu]
max_concurrency = 2
"#;

fn plan(edit: impl Fn(&str) -> String) -> ReloadPlan {
    diff(&valid(BASE), &valid(&edit(BASE)))
}

fn action(plan: &ReloadPlan, kind: PlanUnit, name: &str) -> PlanAction {
    plan.unit(kind, name).unwrap_or_else(|| panic!("no {kind:?} {name} in {plan:#?}")).action
}

#[test]
fn the_same_spec_is_an_empty_plan() {
    let plan = plan(|s| s.to_string());
    assert!(plan.is_empty(), "{plan:#?}");
    assert_eq!(plan.count(PlanAction::Keep), 6, "3 services, a template, its pool and `default`");
}

/// (what, the edit, the unit, its expected action, an expected change item)
type Row = (&'static str, fn(&str) -> String, PlanUnit, &'static str, PlanAction, &'static str);

#[test]
fn each_change_gets_its_action() {
    use PlanAction::*;
    use PlanUnit::*;
    // (edit, unit, expected action, expected change item)
    let rows: Vec<Row> = vec![
        (
            "memory",
            |s| s.replace("64MiB", "128MiB"),
            Service,
            "db",
            Update,
            "memory 64 MiB → 128 MiB",
        ),
        ("pids", |s| s.replace("pids = 32", "pids = 64"), Service, "db", Update, "pids 32 → 64"),
        (
            "nofile",
            |s| s.replace("pids = 32", "pids = 32, nofile = 100"),
            Service,
            "db",
            Restart,
            "nofile",
        ),
        (
            "command",
            |s| s.replace(r#"["api"]"#, r#"["api", "-v"]"#),
            Service,
            "api",
            Restart,
            "command",
        ),
        (
            "env",
            |s| s.replace("command = [\"web\"]", "command = [\"web\"]\nenv = { A = \"1\" }"),
            Service,
            "web",
            Restart,
            "env",
        ),
        (
            "restart",
            |s| s.replace("command = [\"web\"]", "command = [\"web\"]\nrestart = \"always\""),
            Service,
            "web",
            Update,
            "restart",
        ),
        (
            "replicas",
            |s| s.replace("command = [\"web\"]", "command = [\"web\"]\nreplicas = 2"),
            Service,
            "web",
            Restart,
            "replicas",
        ),
        (
            "walls",
            |s| s.replace("command = [\"web\"]", "command = [\"web\"]\nisolation = \"none\""),
            Service,
            "web",
            Restart,
            "walls",
        ),
        (
            "job command",
            |s| s.replace(r#"["train"]"#, r#"["train", "2"]"#),
            Job,
            "train",
            Update,
            "command",
        ),
        (
            "job memory",
            |s| s.replace("pool = \"gpu\"", "pool = \"gpu\"\nlimits = { memory = \"1GiB\" }"),
            Job,
            "train",
            Update,
            "memory",
        ),
        (
            "pool",
            |s| s.replace("max_concurrency = 2", "max_concurrency = 3"),
            Pool,
            "gpu",
            Update,
            "max_concurrency 2 → 3",
        ),
    ];
    for (what, edit, kind, name, expected, item) in rows {
        let plan = plan(edit);
        let unit = plan.unit(kind, name).unwrap();
        assert_eq!(unit.action, expected, "{what}: {unit:#?}");
        assert!(unit.changes.iter().any(|c| c.contains(item)), "{what}: {unit:#?}");
        let others = plan.units.iter().filter(|u| u.name != name && u.action != Keep);
        assert_eq!(others.count(), 0, "{what} changed only {name}: {plan:#?}");
    }
}

#[test]
fn added_and_removed_units_in_dependency_order() {
    let plan = plan(|s| {
        s.replace("[service.web]\ncommand = [\"web\"]\ndepends_on = { api = \"started\" }\n", "")
            .replace("[job.train]", "[service.cache]\ncommand = [\"cache\"]\n\n[job.train]")
    });
    assert_eq!(action(&plan, PlanUnit::Service, "web"), PlanAction::Remove);
    assert_eq!(action(&plan, PlanUnit::Service, "cache"), PlanAction::Add);
    let removed_then_api = |a: &str, b: &str| {
        let pos = |n: &str| plan.units.iter().position(|u| u.name == n).unwrap();
        pos(a) < pos(b)
    };
    assert!(removed_then_api("db", "api"), "services in start order: {plan:#?}");
    assert_eq!(plan.summary(), "1 added, 1 removed, 0 updated, 0 restarted, 5 unchanged");
}

#[test]
fn removed_services_stop_dependents_first() {
    let old = valid(BASE);
    let new = valid("[service.other]\ncommand = [\"x\"]\n");
    let plan = diff(&old, &new);
    let removed: Vec<&str> = plan
        .units
        .iter()
        .filter(|u| u.kind == PlanUnit::Service && u.action == PlanAction::Remove)
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(removed, ["web", "api", "db"]);
    assert_eq!(action(&plan, PlanUnit::Job, "train"), PlanAction::Remove);
    assert_eq!(action(&plan, PlanUnit::Pool, "gpu"), PlanAction::Remove);
}

#[test]
fn daemon_settings_say_whether_they_apply_live() {
    let plan = plan(|s| format!("[daemon]\nlog_keep = 9\nreserve_tasks = 10\n{s}"));
    let keys: Vec<(&str, bool)> = plan.settings.iter().map(|c| (c.key.as_str(), c.live)).collect();
    assert_eq!(keys, [("daemon.log_keep", true), ("daemon.reserve_tasks", false)]);
    assert!(!plan.is_empty());
}

#[test]
fn retention_settings_apply_live() {
    let plan = plan(|s| {
        format!(
            "[daemon]\nworkspace_retention = \"1d\"\n[logs]\nmax_age = \"1d\"\nmax_size = \"1GiB\"\npostmortem_retention = \"2d\"\n{s}"
        )
    });
    let keys: Vec<(&str, bool)> = plan.settings.iter().map(|c| (c.key.as_str(), c.live)).collect();
    assert_eq!(
        keys,
        [
            ("daemon.workspace_retention", true),
            ("logs.max_age", true),
            ("logs.max_size", true),
            ("logs.postmortem_retention", true),
        ]
    );
}

#[test]
fn monitor_settings_apply_live_but_the_webhook_waits_for_a_restart() {
    let monitor =
        "[monitor]\ninterval = \"1s\"\nwarning = 70\nwebhook = \"http://127.0.0.1:9/hook\"\n";
    let plan = plan(|s| format!("{monitor}{s}"));
    let keys: Vec<(&str, bool)> = plan.settings.iter().map(|c| (c.key.as_str(), c.live)).collect();
    assert_eq!(
        keys,
        [("monitor.interval", true), ("monitor.thresholds", true), ("monitor.webhook", false)]
    );
}

#[test]
fn alert_rules_added_changed_and_removed_are_named_with_what_differs() {
    let rule = |name: &str, value: u32, for_: &str| {
        format!(
            "[alert.{name}]\nsignal = \"queue_depth\"\npool = \"gpu\"\nop = \">\"\nvalue = {value}\nfor = \"{for_}\"\n"
        )
    };
    let old = format!(
        "{BASE}{}{}{}",
        rule("deep", 10, "1m"),
        rule("kept", 1, "1m"),
        rule("gone", 1, "1m")
    );
    let new = format!(
        "{BASE}{}{}{}",
        rule("deep", 20, "5m"),
        rule("kept", 1, "1m"),
        rule("fresh", 1, "1m")
    );
    let plan = diff(&valid(&old), &valid(&new));
    let alerts: Vec<(&str, PlanAction, Vec<&str>)> = plan
        .alerts
        .iter()
        .map(|a| (a.name.as_str(), a.action, a.changes.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        alerts,
        [
            ("deep", PlanAction::Update, vec!["value 10 → 20", "for"]),
            ("fresh", PlanAction::Add, vec![]),
            ("gone", PlanAction::Remove, vec![]),
        ]
    );
    assert!(!plan.is_empty(), "a plan that only changes alert rules is not empty");
    assert!(plan.units.iter().all(|u| u.action == PlanAction::Keep));
    assert!(diff(&valid(&old), &valid(&old)).alerts.is_empty());
}
