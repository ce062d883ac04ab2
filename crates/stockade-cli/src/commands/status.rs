//! `stockade status`: the daemon, its box backend, the alerts firing now,
//! services by state, pools, schedules.

use crate::client::Client;
use crate::render::{duration_ms, table};
use std::collections::BTreeMap;
use std::process::ExitCode;
use stockade_proto::{FiringAlert, FiringAlerts, StatusView, UnixMillis, Unwalled, now_millis};

/// Summarize the daemon.
pub async fn run(client: Client, json: bool) -> anyhow::Result<ExitCode> {
    let raw: serde_json::Value = client.get("/api/status").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&raw)?);
        return Ok(ExitCode::SUCCESS);
    }
    let unwalled: Unwalled = serde_json::from_value(raw.clone()).unwrap_or_default();
    let alerts: FiringAlerts = serde_json::from_value(raw.clone()).unwrap_or_default();
    let status: StatusView = serde_json::from_value(raw)
        .map_err(|e| anyhow::anyhow!("the daemon's status is not what this CLI expects: {e}"))?;
    println!(
        "daemon   pid {}, up {}",
        status.pid,
        duration_ms(now_millis().saturating_sub(status.started_at))
    );
    println!("spec     {}", status.spec);
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
    for line in alert_lines(&alerts.alerts, now_millis()) {
        println!("{line}");
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
    if let Some(schedules) = super::schedules::schedule_table(&status.schedules, now_millis()) {
        println!();
        print!("{schedules}");
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per firing alert: `ALERT    flappy (worker) for 3m: restarts{…} = 4 …`.
pub(crate) fn alert_lines(alerts: &[FiringAlert], now: UnixMillis) -> Vec<String> {
    alerts
        .iter()
        .map(|a| {
            let unit = if a.unit.is_empty() { String::new() } else { format!(" ({})", a.unit) };
            let since = duration_ms(now.saturating_sub(a.since));
            format!("ALERT    {}{unit} for {since}: {}", a.alert, a.message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firing_alerts_read_as_one_line_each() {
        let now = 1_700_000_000_000;
        let alert = |alert: &str, unit: &str, ago: u64, message: &str| FiringAlert {
            alert: alert.into(),
            unit: unit.into(),
            message: message.into(),
            since: now - ago,
        };
        let lines = alert_lines(
            &[
                alert(
                    "flappy",
                    "worker",
                    95_000,
                    "restarts{service=worker} = 3 in the last 1m (> 2)",
                ),
                alert("low_memory", "", 600_000, "headroom_memory = 512 MiB (< 1 GiB)"),
                alert(
                    "memory_leak",
                    "leaky[0]",
                    4_000,
                    "memory of `leaky` grows 36000 MiB/h; its 256 MiB limit is ~12 s away",
                ),
            ],
            now,
        );
        insta::assert_snapshot!("status_alert_lines", lines.join("\n"));
    }
}
