//! `stockade check`: validate a spec and report every error at once, then
//! every warning (an undefined `${VAR}`) with its line and column.

use crate::render::print_json;
use std::path::Path;
use std::process::ExitCode;

/// Validate `path`; exit 2 with all errors rendered if it is not valid.
pub fn run(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let spec = super::load_spec(path)?;
    let replicas: u32 = spec.services.iter().map(|s| s.replicas).sum();
    let unwalled: Vec<String> = spec
        .services
        .iter()
        .filter(|s| s.isolation.walls().is_none())
        .map(|s| format!("service {}", s.name))
        .chain(
            spec.jobs
                .values()
                .filter(|j| j.isolation.walls().is_none())
                .map(|j| format!("job {}", j.name)),
        )
        .collect();
    if json {
        let warnings: Vec<_> = spec
            .warnings
            .iter()
            .map(|w| serde_json::json!({"line": w.line, "column": w.column, "message": w.message}))
            .collect();
        print_json(&serde_json::json!({
            "path": path,
            "ok": true,
            "services": spec.services.len(),
            "replicas": replicas,
            "job_templates": spec.jobs.len(),
            "pools": spec.pools.len().max(1),
            "start_order": spec.start_order(),
            "unwalled": unwalled,
            "warnings": warnings,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: ok — {} service(s) ({replicas} replica(s)), {} job template(s), {} pool(s); start order: {}",
        path.display(),
        spec.services.len(),
        spec.jobs.len(),
        spec.pools.len().max(1),
        if spec.services.is_empty() {
            "(no services)".to_string()
        } else {
            spec.start_order().join(" → ")
        }
    );
    if !unwalled.is_empty() {
        println!(
            "UNWALLED {} — isolation = \"none\": no namespaces, the daemon's user and environment",
            unwalled.join(", ")
        );
    }
    for warning in &spec.warnings {
        eprintln!(
            "{}:{}:{}: warning: {}",
            path.display(),
            warning.line,
            warning.column,
            warning.message
        );
    }
    Ok(ExitCode::SUCCESS)
}
