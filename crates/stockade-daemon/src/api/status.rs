//! `/api/status`, `/api/queue/status` and `/api/schedules`.

use super::{AppState, Failure};
use axum::Json;
use axum::extract::State;
use serde_json::json;
use stockade_proto::{QueueStatus, ScheduleView};

/// Daemon, services (each with its `isolation`), pools, the `unwalled` units
/// and the `alerts` firing now.
pub async fn status(State(state): State<AppState>) -> Result<Json<serde_json::Value>, Failure> {
    let mut status = state.engine.status().await?;
    // A member that claims nothing says so loudly, where `stockade status`
    // shows warnings.
    if let Some(cluster) = &state.cluster {
        let (host, epoch, _, _, degraded) = cluster.standing();
        if let Some(why) = degraded {
            status
                .warnings
                .push(format!("cluster member {host} (epoch {epoch}) is degraded: {why}"));
        }
    }
    let mut value = serde_json::to_value(status).unwrap_or_default();
    if let Some(services) = value.get_mut("services") {
        super::isolation::mark(&state.spec(), services);
    }
    value["unwalled"] = json!(super::isolation::unwalled(&state.spec()));
    value["spec_file"] = json!(state.reloader.file_view().await);
    value["alerts"] = json!(state.alerts.firing());
    Ok(Json(value))
}

/// Per pool: `running`, `queued`, `maxConcurrency`, `utilizationPercent`,
/// blocking reason. The top level repeats the totals in the same shape, so a
/// script written against a single-queue server keeps working.
pub async fn queue(State(state): State<AppState>) -> Result<Json<QueueStatus>, Failure> {
    let pools = state.engine.queue().await?;
    let running: u64 = pools.iter().map(|p| p.running).sum();
    let queued: u64 = pools.iter().map(|p| p.queued).sum();
    let max: u64 = pools.iter().map(|p| p.max_concurrency).sum();
    Ok(Json(QueueStatus {
        running,
        queued,
        max_concurrency: max,
        utilization_percent: (running * 100).checked_div(max).unwrap_or(0),
        pools,
    }))
}

/// Every job template's schedule: its rule, next and last slot, live jobs.
pub async fn schedules(State(state): State<AppState>) -> Result<Json<Vec<ScheduleView>>, Failure> {
    Ok(Json(state.engine.schedules().await?))
}
