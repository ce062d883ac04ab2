//! `stockade ps`: services, then live jobs (and with `--all`, finished ones),
//! then schedules.

use crate::cli::PsArgs;
use crate::client::Client;
use crate::render::{bytes, duration_ms, table};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::process::ExitCode;
use stockade_proto::{Isolated, Isolation, JobView, ReplicaView, ScheduleView, now_millis};

/// The marker `ps` puts on every unit with `isolation = "none"`.
const UNWALLED: &str = "UNWALLED";

/// Views and, beside each, its unit's `isolation`.
async fn views<T: DeserializeOwned>(
    client: &Client,
    path: &str,
) -> anyhow::Result<(serde_json::Value, Vec<(T, bool)>)> {
    // Every list is a page, `{"items", "next", "total"}`.
    let page: serde_json::Value = client.get(path).await?;
    let raw = page.get("items").cloned().unwrap_or(page);
    let views: Vec<T> = serde_json::from_value(raw.clone())
        .map_err(|e| anyhow::anyhow!("the daemon's answer is not what this CLI expects: {e}"))?;
    let isolation: Vec<Isolated> = serde_json::from_value(raw.clone()).unwrap_or_default();
    let unwalled =
        (0..views.len()).map(|i| isolation.get(i).is_some_and(|m| m.isolation == Isolation::None));
    Ok((raw, views.into_iter().zip(unwalled.collect::<Vec<_>>()).collect()))
}

/// `WHY`, with the UNWALLED marker in front for an unwalled unit.
fn why(unwalled: bool, reason: Option<String>) -> String {
    match (unwalled, reason) {
        (true, Some(r)) => format!("{UNWALLED}; {r}"),
        (true, None) => UNWALLED.to_owned(),
        (false, r) => r.unwrap_or_default(),
    }
}

/// List services and jobs.
pub async fn run(client: Client, args: &PsArgs) -> anyhow::Result<ExitCode> {
    let (raw_services, services) = views::<ReplicaView>(&client, "/api/services").await?;
    let (raw_live, live) =
        views::<JobView>(&client, "/api/jobs?state=queued,running&limit=1000").await?;
    let (raw_done, done) = if args.all {
        views::<JobView>(
            &client,
            "/api/jobs?state=succeeded,failed,cancelled,expired,rejected&limit=50",
        )
        .await?
    } else {
        (serde_json::Value::Array(Vec::new()), Vec::new())
    };
    let raw_schedules: serde_json::Value = client.get("/api/schedules").await?;
    if args.json {
        let jobs: Vec<&serde_json::Value> =
            [&raw_live, &raw_done].into_iter().filter_map(|v| v.as_array()).flatten().collect();
        let all = json!({"services": raw_services, "jobs": jobs, "schedules": raw_schedules});
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    let schedules: Vec<ScheduleView> = serde_json::from_value(raw_schedules).map_err(|e| {
        anyhow::anyhow!("the daemon's schedules are not what this CLI expects: {e}")
    })?;
    let now = now_millis();
    if !services.is_empty() {
        let rows: Vec<Vec<String>> = services
            .iter()
            .map(|(r, unwalled)| {
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
                    why(*unwalled, r.reason.clone()),
                ]
            })
            .collect();
        print!(
            "{}",
            table(&["SERVICE", "STATE", "PID", "RESTARTS", "MEMORY", "UPTIME", "WHY"], &rows)
        );
    }
    let jobs: Vec<&(JobView, bool)> = live.iter().chain(done.iter()).collect();
    if !jobs.is_empty() {
        if !services.is_empty() {
            println!();
        }
        let rows: Vec<Vec<String>> = jobs
            .iter()
            .map(|(j, unwalled)| {
                let reason = j
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
                    why(*unwalled, reason),
                ]
            })
            .collect();
        print!(
            "{}",
            table(&["JOB", "TEMPLATE", "STATE", "POOL", "ATTEMPT", "PID", "AGE", "WHY"], &rows)
        );
    }
    if let Some(table) = super::schedules::schedule_table(&schedules, now) {
        if !services.is_empty() || !jobs.is_empty() {
            println!();
        }
        print!("{table}");
    }
    if services.is_empty() && jobs.is_empty() && schedules.is_empty() {
        println!("nothing is running (no services in the spec, no live jobs)");
    }
    Ok(ExitCode::SUCCESS)
}
