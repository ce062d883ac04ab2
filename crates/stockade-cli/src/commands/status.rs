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
        crate::render::print_json(&raw)?;
        return Ok(ExitCode::SUCCESS);
    }
    let unwalled: Unwalled = serde_json::from_value(raw.clone()).unwrap_or_default();
    let alerts: FiringAlerts = serde_json::from_value(raw.clone()).unwrap_or_default();
    let status: StatusView = serde_json::from_value(raw)
        .map_err(|e| anyhow::anyhow!("the daemon's status is not what this CLI expects: {e}"))?;
    print!("{}", render(&status, &unwalled, &alerts, now_millis()));
    Ok(ExitCode::SUCCESS)
}

/// The text `status` prints.
fn render(
    status: &StatusView,
    unwalled: &Unwalled,
    alerts: &FiringAlerts,
    now: UnixMillis,
) -> String {
    let mut out = format!(
        "daemon   pid {}, up {}\nspec     {}\n",
        status.pid,
        duration_ms(now.saturating_sub(status.started_at)),
        status.spec,
    );
    if let Some(file) = &status.spec_file {
        let reloads = match file.reloads {
            0 => String::new(),
            n => format!(", {n} reload(s) since start"),
        };
        let line = match (&file.disk_hash, file.changed_on_disk) {
            (None, _) => {
                format!("the spec file cannot be read now; the daemon runs what it loaded{reloads}")
            }
            (Some(_), true) => format!(
                "CHANGED ON DISK since it was loaded {} ago — `stockade reload --plan` shows what would change{reloads}",
                duration_ms(now.saturating_sub(file.loaded_at))
            ),
            (Some(_), false) => format!("running as on disk{reloads}"),
        };
        out.push_str(&format!("         {line}\n"));
    }
    out.push_str(&format!("boxes    {}\n", status.sandbox));
    for warning in &status.warnings {
        out.push_str(&format!("warning  {warning}\n"));
    }
    if !unwalled.unwalled.is_empty() {
        out.push_str(&format!(
            "UNWALLED {} — isolation = \"none\": no namespaces, the daemon's user and environment\n",
            unwalled.unwalled.join(", ")
        ));
    }
    for line in alert_lines(&alerts.alerts, now) {
        out.push_str(&line);
        out.push('\n');
    }
    let mut states: BTreeMap<String, u32> = BTreeMap::new();
    for replica in &status.services {
        *states.entry(replica.state.to_string()).or_default() += 1;
    }
    let summary: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    out.push_str(&format!(
        "replicas {}\n",
        if summary.is_empty() { "none".into() } else { summary.join(", ") }
    ));
    for s in &status.scaled {
        out.push_str(&format!("         {} {}\n", s.service, s.describe()));
    }
    out.push('\n');
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
    if let Some(schedules) = super::schedules::schedule_table(&status.schedules, now) {
        out.push('\n');
        out.push_str(&schedules);
    }
    out
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
    fn the_status_table() {
        let status: StatusView = serde_json::from_value(serde_json::json!({
            "pid": 4242, "started_at": 10_000_000 - 3_723_000, "spec": "/srv/herd/stockade.toml",
            "sandbox": "cgroup v1 (memory, pids, cpu) + walls", "warnings": ["no PSI on this kernel"],
            "services": [
                {"service": "router", "replica": 0, "state": "ready", "restarts": 0, "limits": {}},
                {"service": "player", "replica": 0, "state": "running", "restarts": 2, "limits": {}},
                {"service": "player", "replica": 1, "state": "backoff", "restarts": 5, "limits": {}},
            ],
            "scaled": [{"service": "player", "replicas": 2, "spec_replicas": 1}],
            "pools": [
                {"name": "default", "running": 2, "queued": 9, "max_concurrency": 2, "mode": "fixed", "utilization_percent": 100, "max_queued": 10000, "blocking_reason": "pool default is full (2/2 running)"},
                {"name": "ci", "running": 0, "queued": 0, "max_concurrency": 4, "mode": "auto", "utilization_percent": 0, "max_queued": 10000},
            ],
        }))
        .unwrap_or_else(|e| panic!("a StatusView: {e}"));
        let unwalled = Unwalled { unwalled: vec!["service router".into()] };
        insta::assert_snapshot!(
            "status",
            render(&status, &unwalled, &FiringAlerts::default(), 10_000_000)
        );
    }

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
