//! `stockade ps`: services, then live jobs (and with `--all`, finished ones).

use crate::cli::PsArgs;
use crate::client::Client;
use crate::render::{bytes, duration_ms, table};
use serde_json::json;
use std::process::ExitCode;
use stockade_proto::{JobView, ReplicaView, now_millis};

/// List services and jobs.
pub async fn run(client: Client, args: &PsArgs) -> anyhow::Result<ExitCode> {
    let services: Vec<ReplicaView> = client.get("/api/services").await?;
    let live: Vec<JobView> = client.get("/api/jobs?state=queued,running&limit=1000").await?;
    let done: Vec<JobView> = if args.all {
        client.get("/api/jobs?state=succeeded,failed,cancelled,expired,rejected&limit=50").await?
    } else {
        Vec::new()
    };
    if args.json {
        let jobs: Vec<&JobView> = live.iter().chain(done.iter()).collect();
        println!("{}", serde_json::to_string_pretty(&json!({"services": services, "jobs": jobs}))?);
        return Ok(ExitCode::SUCCESS);
    }
    let now = now_millis();
    if !services.is_empty() {
        let rows: Vec<Vec<String>> = services
            .iter()
            .map(|r| {
                vec![
                    format!("{}[{}]", r.service, r.replica),
                    r.state.to_string(),
                    r.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    r.restarts.to_string(),
                    r.usage
                        .as_ref()
                        .and_then(|u| u.memory_current)
                        .map(bytes)
                        .unwrap_or_else(|| "-".into()),
                    r.started_at
                        .map(|t| duration_ms(now.saturating_sub(t)))
                        .unwrap_or_else(|| "-".into()),
                    r.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print!(
            "{}",
            table(&["SERVICE", "STATE", "PID", "RESTARTS", "MEMORY", "UPTIME", "WHY"], &rows)
        );
    }
    let jobs: Vec<&JobView> = live.iter().chain(done.iter()).collect();
    if !jobs.is_empty() {
        if !services.is_empty() {
            println!();
        }
        let rows: Vec<Vec<String>> = jobs
            .iter()
            .map(|j| {
                let why = j
                    .waiting
                    .clone()
                    .or_else(|| j.reason.clone())
                    .or_else(|| j.cause.as_ref().map(|c| c.to_string()));
                vec![
                    j.id.to_string(),
                    j.template.clone(),
                    j.state.to_string(),
                    j.pool.clone(),
                    format!("{}/{}", j.attempt, j.max_attempts),
                    j.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    duration_ms(now.saturating_sub(j.started_at.unwrap_or(j.submitted_at))),
                    why.unwrap_or_default(),
                ]
            })
            .collect();
        print!(
            "{}",
            table(&["JOB", "TEMPLATE", "STATE", "POOL", "ATTEMPT", "PID", "AGE", "WHY"], &rows)
        );
    }
    if services.is_empty() && jobs.is_empty() {
        println!("nothing is running (no services in the spec, no live jobs)");
    }
    Ok(ExitCode::SUCCESS)
}
