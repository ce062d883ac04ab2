//! `stockade reload [--plan] [--json]`: the running daemon re-reads its spec
//! file, plans the move to it and (without `--plan`) applies it — the same
//! as sending it SIGHUP. An invalid spec changes nothing: the problems are
//! shown with line and column, as `stockade check` shows them.

use crate::client::Client;
use crate::exit::{FAILED, fail};
use crate::render::table;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use stockade_proto::{PlanUnit, ReloadPlan};

/// Ask the daemon to reload (or only plan), print the plan.
pub async fn run(
    client: Client,
    spec: &Path,
    plan_only: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let path = if plan_only { "/api/daemon/reload?dry_run=true" } else { "/api/daemon/reload" };
    let plan: ReloadPlan = match client.post(path, &serde_json::json!({})).await {
        Ok(plan) => plan,
        Err(err) => {
            // Show an invalid spec as `check` does (every problem underlined),
            // when this CLI can read the same file.
            if let Err(local) = super::load_spec(spec) {
                return Err(refused(local));
            }
            return Err(err);
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", render(&plan, plan_only));
    }
    match plan.units.iter().find_map(|u| u.note.as_deref().filter(|n| n.contains("not written"))) {
        Some(note) => Err(fail(
            FAILED,
            format!("the reload is applied, but some limits did not reach their box: {note}"),
            Some(
                "see the daemon's log; `stockade restart NAME` starts the unit with them"
                    .to_string(),
            ),
        )),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// A spec that cannot be read or is invalid, as the reload's refusal.
fn refused(local: anyhow::Error) -> anyhow::Error {
    match local.downcast_ref::<crate::exit::Fail>() {
        Some(f) => {
            fail(f.code, format!("reload refused, nothing changed: {}", f.message), f.hint.clone())
        }
        None => local.context("reload refused, nothing changed"),
    }
}

/// The client of `stockade reload`: the spec's socket; when the spec is not
/// usable (the very thing a reload may be about), the default socket beside
/// it if a daemon answers there, else the spec's problems as the refusal.
pub fn client(socket: Option<&Path>, spec: &Path, timeout: Duration) -> anyhow::Result<Client> {
    match Client::locate(socket, spec, timeout) {
        Ok(client) => Ok(client),
        Err(err) => {
            let dir = spec.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let beside = dir.join(".stockade").join("stockade.sock");
            let client = Client::locate(Some(&beside), spec, timeout)?;
            if client.connects() {
                return Ok(client);
            }
            match super::load_spec(spec) {
                Err(local) => Err(refused(local)),
                Ok(_) => Err(err),
            }
        }
    }
}

/// The plan as printed: a header, one row per unit, the settings, the verdict.
pub fn render(plan: &ReloadPlan, plan_only: bool) -> String {
    let mut out = format!("reload {}: {}\n", plan.spec, plan.summary());
    let rows: Vec<Vec<String>> = plan
        .units
        .iter()
        .map(|u| {
            vec![
                u.action.word().to_string(),
                format!("{} {}", kind(u.kind), u.name),
                u.changes.join(", "),
                u.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(&["ACTION", "UNIT", "CHANGES", "NOTE"], &rows));
    }
    let (live, later): (Vec<_>, Vec<_>) = plan.settings.iter().partition(|s| s.live);
    let keys = |v: &[&stockade_proto::SettingChange]| {
        v.iter().map(|s| s.key.as_str()).collect::<Vec<_>>().join(", ")
    };
    if !live.is_empty() {
        out.push_str(&format!("settings applied live: {}\n", keys(&live)));
    }
    if !later.is_empty() {
        out.push_str(&format!(
            "settings that need a daemon restart (not applied now): {}\n",
            keys(&later)
        ));
    }
    if !plan.alerts.is_empty() {
        let rules: Vec<String> = plan
            .alerts
            .iter()
            .map(|a| match a.changes.as_slice() {
                [] => format!("{} {}", a.action.word(), a.name),
                changes => format!("{} {} ({})", a.action.word(), a.name, changes.join(", ")),
            })
            .collect();
        out.push_str(&format!("alert rules, applied at once: {}\n", rules.join("; ")));
    }
    let verdict = if plan.is_empty() {
        "nothing to do: the daemon already runs this spec"
    } else if plan_only {
        "plan only: nothing changed (`stockade reload` applies it)"
    } else if plan.applied {
        "applied: limits written live, stops sent; restarted and added units start as their dependencies allow"
    } else {
        "not applied"
    };
    out.push_str(verdict);
    out.push('\n');
    out
}

fn kind(kind: PlanUnit) -> &'static str {
    match kind {
        PlanUnit::Service => "service",
        PlanUnit::Job => "job",
        PlanUnit::Pool => "pool",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_proto::{AlertChange, PlanAction, SettingChange, UnitChange};

    fn unit(
        kind: PlanUnit,
        name: &str,
        action: PlanAction,
        changes: &[&str],
        note: &str,
    ) -> UnitChange {
        UnitChange {
            kind,
            name: name.into(),
            action,
            changes: changes.iter().map(|c| c.to_string()).collect(),
            note: (!note.is_empty()).then(|| note.to_string()),
        }
    }

    #[test]
    fn a_plan_prints_one_row_per_unit_and_the_verdict() {
        use PlanAction::*;
        use PlanUnit::*;
        let plan = ReloadPlan {
            spec: "/srv/herd/stockade.toml".into(),
            units: vec![
                unit(
                    Service,
                    "db",
                    Update,
                    &["memory 64 MiB → 128 MiB"],
                    "in place, no restart; 1 live replica(s)",
                ),
                unit(
                    Service,
                    "api",
                    Restart,
                    &["command"],
                    "1 live replica(s) stop, then start with the new spec",
                ),
                unit(Service, "cache", Add, &[], ""),
                unit(Service, "web", Remove, &[], "stops after its dependents"),
                unit(
                    Job,
                    "train",
                    Update,
                    &["command"],
                    "new runs use the new template (0 queued included); 1 running keep theirs",
                ),
                unit(Pool, "default", Keep, &[], ""),
            ],
            settings: vec![
                SettingChange { key: "daemon.log_keep".into(), live: true },
                SettingChange { key: "daemon.reserve_tasks".into(), live: false },
                SettingChange { key: "monitor.interval".into(), live: true },
            ],
            alerts: vec![
                AlertChange {
                    name: "deep".into(),
                    action: Update,
                    changes: vec!["value 10 → 20".into(), "for".into()],
                },
                AlertChange { name: "idle".into(), action: Add, changes: vec![] },
                AlertChange { name: "flappy".into(), action: Remove, changes: vec![] },
            ],
            applied: true,
        };
        insta::assert_snapshot!(render(&plan, false));
        let only = ReloadPlan { applied: false, ..plan };
        assert!(
            render(&only, true)
                .ends_with("plan only: nothing changed (`stockade reload` applies it)\n")
        );
        let empty = ReloadPlan { spec: "s.toml".into(), ..ReloadPlan::default() };
        assert!(render(&empty, false).contains("nothing to do"));
    }
}
