//! The human form of a [`Plan`].

use super::{Plan, UnitPlan};
use stockade_linux::human_bytes;
use stockade_proto::UnitKind;

/// Render a plan as `stockade doctor --plan` prints it.
pub fn render_plan(plan: &Plan) -> String {
    let mut out = String::from("host budget (after the reserve):\n");
    if plan.budget.inputs.is_empty() {
        out.push_str("  unknown: no host limit could be read\n");
    }
    for line in &plan.budget.inputs {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str("\nper agent:\n");
    for unit in &plan.units {
        out.push_str(&format!("  {}\n", unit_line(unit)));
    }
    let s = &plan.services;
    if s.replicas > 0 {
        out.push_str(&format!(
            "\nservices: {} replicas take {} memory, {} tasks{}\n",
            s.replicas,
            s.total.memory.map_or("?".into(), human_bytes),
            s.total.tasks.map_or("?".into(), |t| t.to_string()),
            match s.overrun {
                Some(d) => format!(" - more {} than the host has free", d.name()),
                None => String::new(),
            }
        ));
    }
    for pool in &plan.pools {
        out.push_str(&format!("\npool {} ({}):\n", pool.pool, pool.templates.join(", ")));
        for line in &pool.inputs {
            out.push_str(&format!("  {line}\n"));
        }
        match (pool.recommended_max_concurrency, pool.binding) {
            (Some(n), Some(d)) => out.push_str(&format!(
                "  recommended max_concurrency = {n} ({} binds first)\n",
                d.name()
            )),
            _ => out.push_str("  recommended max_concurrency: unknown (no declared limit meets a known host limit)\n"),
        }
    }
    for note in &plan.notes {
        out.push_str(&format!("\nnote: {note}"));
    }
    if !plan.notes.is_empty() {
        out.push('\n');
    }
    out
}

fn unit_line(unit: &UnitPlan) -> String {
    let kind = match unit.kind {
        UnitKind::Service => format!("service x{}", unit.replicas),
        UnitKind::Job => format!("job in {}", unit.pool.as_deref().unwrap_or("default")),
    };
    let memory = unit.memory.map_or("memory ?".into(), |a| {
        format!("memory {} ({})", human_bytes(a.value), a.basis.describe())
    });
    let tasks = unit
        .tasks
        .map_or("tasks ?".into(), |a| format!("tasks {} ({})", a.value, a.basis.describe()));
    let fits = match (unit.fits, unit.binding) {
        (Some(n), Some(d)) => format!("{n} fit alone, {} binds", d.name()),
        _ => "fit unknown".into(),
    };
    format!("{:<12} {kind:<16} {memory}, {tasks}: {fits}", unit.name)
}
