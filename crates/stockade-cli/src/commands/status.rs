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
        crate::render::print_json(&raw)?;
        return Ok(ExitCode::SUCCESS);
    }
    let unwalled: Unwalled = serde_json::from_value(raw.clone()).unwrap_or_default();
    let status: StatusView = serde_json::from_value(raw)
        .map_err(|e| anyhow::anyhow!("the daemon's status is not what this CLI expects: {e}"))?;
    print!("{}", render(&status, &unwalled, now_millis()));
    Ok(ExitCode::SUCCESS)
}

/// The text `status` prints.
fn render(status: &StatusView, unwalled: &Unwalled, now: stockade_proto::UnixMillis) -> String {
    let mut out = format!(
        "daemon   pid {}, up {}\nspec     {}\nboxes    {}\n",
        status.pid,
        duration_ms(now.saturating_sub(status.started_at)),
        status.spec,
        status.sandbox
    );
    for warning in &status.warnings {
        out.push_str(&format!("warning  {warning}\n"));
    }
    if !unwalled.unwalled.is_empty() {
        out.push_str(&format!(
            "UNWALLED {} — isolation = \"none\": no namespaces, the daemon's user and environment\n",
            unwalled.unwalled.join(", ")
        ));
    }
    let mut states: BTreeMap<String, u32> = BTreeMap::new();
    for replica in &status.services {
        *states.entry(replica.state.to_string()).or_default() += 1;
    }
    let summary: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    out.push_str(&format!(
        "replicas {}\n\n",
        if summary.is_empty() { "none".into() } else { summary.join(", ") }
    ));
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
    out.push_str(&table(&["POOL", "RUNNING", "QUEUED", "LIMIT", "UTIL", "WAITING BECAUSE"], &rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_table() {
        let status: StatusView = serde_json::from_value(serde_json::json!({
            "pid": 4242, "started_at": 10_000_000 - 3_723_000, "spec": "/srv/herd/stockade.toml",
            "sandbox": "cgroup v1 (memory, pids, cpu) + walls", "warnings": ["no PSI on this kernel"],
            "services": [
                {"service": "router", "replica": 0, "state": "ready", "restarts": 0, "limits": {}},
                {"service": "player", "replica": 0, "state": "running", "restarts": 2, "limits": {}},
                {"service": "player", "replica": 1, "state": "backoff", "restarts": 5, "limits": {}},
            ],
            "pools": [
                {"name": "default", "running": 2, "queued": 9, "max_concurrency": 2, "mode": "fixed", "utilization_percent": 100, "max_queued": 10000, "blocking_reason": "pool default is full (2/2 running)"},
                {"name": "ci", "running": 0, "queued": 0, "max_concurrency": 4, "mode": "auto", "utilization_percent": 0, "max_queued": 10000},
            ],
        }))
        .unwrap_or_else(|e| panic!("a StatusView: {e}"));
        let unwalled = Unwalled { unwalled: vec!["service router".into()] };
        insta::assert_snapshot!("status", render(&status, &unwalled, 10_000_000));
    }
}
