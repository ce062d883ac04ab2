//! `stockade ps`: services, then live jobs (and with `--all`, finished ones),
//! then schedules.

use crate::cli::PsArgs;
use crate::client::Client;
use crate::render::{bytes, duration_ms, print_json, status_table};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::process::ExitCode;
use stockade_proto::{
    Isolated, Isolation, JobView, ReplicaView, ScaledService, ScheduleView, now_millis,
};

/// The marker `ps` puts on every unit with `isolation = "none"`.
const UNWALLED: &str = "UNWALLED";

/// A page's items as views, each with whether its unit is unwalled.
fn split<T: DeserializeOwned>(
    page: serde_json::Value,
) -> anyhow::Result<(serde_json::Value, Vec<(T, bool)>)> {
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

/// Jobs as `ps` lists them: newest first, at most `--limit` (with `--all`
/// every job, finished ones too, a page at a time), and how many matched.
async fn jobs(
    client: &Client,
    args: &PsArgs,
) -> anyhow::Result<(Vec<serde_json::Value>, Vec<(JobView, bool)>, u64)> {
    let (states, page) =
        if args.all { ("", 1000) } else { ("&state=queued,running", args.limit.clamp(1, 10_000)) };
    let mut raw = Vec::new();
    let mut views_all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let path = format!("/api/jobs?limit={page}{states}{after}");
        let whole: serde_json::Value = client.get(&path).await?;
        let total = whole.get("total").and_then(serde_json::Value::as_u64).unwrap_or(0);
        cursor = whole.get("next").and_then(|n| n.as_str()).map(str::to_owned);
        let (items, views) = split::<JobView>(whole)?;
        raw.extend(items.as_array().cloned().unwrap_or_default());
        views_all.extend(views);
        if !args.all || cursor.is_none() {
            return Ok((raw, views_all, total));
        }
    }
}

/// List services and jobs.
pub async fn run(client: Client, args: &PsArgs) -> anyhow::Result<ExitCode> {
    let page: serde_json::Value = client.get("/api/services").await?;
    let scaled: Vec<ScaledService> = page
        .get("scaled")
        .cloned()
        .and_then(|s| serde_json::from_value(s).ok())
        .unwrap_or_default();
    let (raw_services, services) = split::<ReplicaView>(page)?;
    let (raw_jobs, jobs_found, total) = jobs(&client, args).await?;
    let left_out = total.saturating_sub(jobs_found.len() as u64);
    let raw_schedules: serde_json::Value = client.get("/api/schedules").await?;
    if args.json {
        print_json(&json!({
            "services": raw_services,
            "scaled": scaled,
            "jobs": raw_jobs,
            "jobs_total": total,
            "jobs_left_out": left_out,
            "schedules": raw_schedules,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let schedules: Vec<ScheduleView> = serde_json::from_value(raw_schedules).map_err(|e| {
        anyhow::anyhow!("the daemon's schedules are not what this CLI expects: {e}")
    })?;
    let now = now_millis();
    let listing =
        Listing { services: &services, scaled: &scaled, jobs: &jobs_found, left_out, total };
    print!("{}", render(&listing, now));
    if let Some(table) = super::schedules::schedule_table(&schedules, now) {
        if !services.is_empty() || !jobs_found.is_empty() {
            println!();
        }
        print!("{table}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What `ps` lists: each view beside whether its unit is unwalled.
struct Listing<'a> {
    services: &'a [(ReplicaView, bool)],
    /// The services a `stockade scale` runs at another count than the spec's.
    scaled: &'a [ScaledService],
    jobs: &'a [(JobView, bool)],
    /// Jobs that matched but are not shown (`--limit`).
    left_out: u64,
    /// Jobs that matched.
    total: u64,
}

/// The text `ps` prints: the replicas (and the scaled counts), the jobs,
/// and what was left out.
fn render(listing: &Listing<'_>, now: stockade_proto::UnixMillis) -> String {
    let Listing { services, scaled, jobs, left_out, total } = *listing;
    let mut out = String::new();
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
        out.push_str(&status_table(
            &["SERVICE", "STATE", "PID", "RESTARTS", "MEMORY", "UPTIME", "WHY"],
            &rows,
        ));
        for s in scaled {
            out.push_str(&format!("{} replicas: {}\n", s.service, s.describe()));
        }
    }
    if !jobs.is_empty() {
        if !services.is_empty() {
            out.push('\n');
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
        out.push_str(&status_table(
            &["JOB", "TEMPLATE", "STATE", "POOL", "ATTEMPT", "PID", "AGE", "WHY"],
            &rows,
        ));
    }
    if left_out > 0 {
        out.push_str(&format!(
            "… {left_out} more job(s) not shown ({} of {total}; --limit N shows more, --all every job)\n",
            jobs.len()
        ));
    }
    if services.is_empty() && jobs.is_empty() {
        out.push_str("nothing is running (no services in the spec, no live jobs)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(r: u32, state: &str, reason: Option<&str>) -> ReplicaView {
        serde_json::from_value(json!({
            "service": "player", "replica": r, "state": state, "reason": reason,
            "pid": 4100 + r, "restarts": r, "started_at": 1_000_000 - 125_000,
            "usage": {"memory_current": 90_u64 << 20}, "limits": {"memory": 256_u64 << 20},
        }))
        .unwrap_or_else(|e| panic!("a ReplicaView: {e}"))
    }

    fn job(id: u64, state: &str, waiting: Option<&str>) -> JobView {
        serde_json::from_value(json!({
            "id": id, "template": "selfplay", "pool": "default", "state": state, "args": [],
            "priority": 0, "attempt": 1, "max_attempts": 3, "waiting": waiting,
            "submitted_at": 1_000_000 - 61_000, "runs": [],
        }))
        .unwrap_or_else(|e| panic!("a JobView: {e}"))
    }

    #[test]
    fn the_ps_table() {
        let services = vec![
            (replica(0, "ready", None), false),
            (replica(1, "backoff", Some("restarting after exit code 1")), false),
            (replica(2, "running", None), true),
        ];
        let jobs = vec![
            (job(12, "running", None), false),
            (job(13, "queued", Some("pool default is full (2/2 running)")), false),
        ];
        let scaled = [ScaledService { service: "player".into(), replicas: 3, spec_replicas: 2 }];
        let listing =
            Listing { services: &services, scaled: &scaled, jobs: &jobs, left_out: 40, total: 42 };
        insta::assert_snapshot!("ps", render(&listing, 1_000_000));
    }
}
