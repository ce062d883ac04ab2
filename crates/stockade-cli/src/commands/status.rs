//! `stockade status`: the daemon, its box backend, services by state, pools.

use crate::client::Client;
use crate::render::{duration_ms, table};
use std::collections::BTreeMap;
use std::process::ExitCode;
use stockade_proto::{StatusView, Unwalled, now_millis};

/// Summarize the daemon.
pub async fn run(client: Client, json: bool) -> anyhow::Result<ExitCode> {
    let raw: serde_json::Value = client.get("/api/status").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&raw)?);
        return Ok(ExitCode::SUCCESS);
    }
    let unwalled: Unwalled = serde_json::from_value(raw.clone()).unwrap_or_default();
    let status: StatusView = serde_json::from_value(raw)
        .map_err(|e| anyhow::anyhow!("the daemon's status is not what this CLI expects: {e}"))?;
    println!(
        "daemon   pid {}, up {}",
        status.pid,
        duration_ms(now_millis().saturating_sub(status.started_at))
    );
    println!("spec     {}", status.spec);
    if let Some(file) = &status.spec_file {
        let reloads = match file.reloads {
            0 => String::new(),
            n => format!(", {n} reload(s) since start"),
        };
        match (&file.disk_hash, file.changed_on_disk) {
            (None, _) => println!(
                "         the spec file cannot be read now; the daemon runs what it loaded{reloads}"
            ),
            (Some(_), true) => println!(
                "         CHANGED ON DISK since it was loaded {} ago — `stockade reload --plan` shows what would change{reloads}",
                duration_ms(now_millis().saturating_sub(file.loaded_at))
            ),
            (Some(_), false) => println!("         running as on disk{reloads}"),
        }
    }
    println!("boxes    {}", status.sandbox);
    for warning in &status.warnings {
        println!("warning  {warning}");
    }
    if !unwalled.unwalled.is_empty() {
        println!(
            "UNWALLED {} — isolation = \"none\": no namespaces, the daemon's user and environment",
            unwalled.unwalled.join(", ")
        );
    }
    let mut states: BTreeMap<String, u32> = BTreeMap::new();
    for replica in &status.services {
        *states.entry(replica.state.to_string()).or_default() += 1;
    }
    let summary: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!("replicas {}", if summary.is_empty() { "none".into() } else { summary.join(", ") });
    println!();
    let rows: Vec<Vec<String>> = status
        .pools
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.running.to_string(),
                p.queued.to_string(),
                format!("{} ({})", p.max_concurrency, p.mode),
                format!("{}%", p.utilization_percent),
                p.blocking_reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!("{}", table(&["POOL", "RUNNING", "QUEUED", "LIMIT", "UTIL", "WAITING BECAUSE"], &rows));
    Ok(ExitCode::SUCCESS)
}
