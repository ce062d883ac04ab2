//! `stockade check`: validate a spec and report every error at once.

use std::path::Path;
use std::process::ExitCode;

/// Validate `path`; exit 2 with all errors rendered if it is not valid.
pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
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
    Ok(ExitCode::SUCCESS)
}
