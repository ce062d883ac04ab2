//! `stockade cancel | stop | start | restart`.

use crate::client::Client;
use crate::render::table;
use std::process::ExitCode;
use stockade_proto::{JobView, ReplicaView};

/// Cancel a job.
pub async fn cancel(client: Client, id: u64) -> anyhow::Result<ExitCode> {
    let view: JobView = client.delete(&format!("/api/jobs/{id}")).await?;
    let what = if view.state == stockade_proto::JobState::Running {
        "cancelling (its box is being stopped)".to_string()
    } else {
        view.state.to_string()
    };
    println!("job {id}: {what}");
    Ok(ExitCode::SUCCESS)
}

/// Start, stop or restart a service.
pub async fn service(client: Client, name: &str, action: &str) -> anyhow::Result<ExitCode> {
    let replicas: Vec<ReplicaView> =
        client.post(&format!("/api/services/{name}/{action}"), &serde_json::json!({})).await?;
    let rows: Vec<Vec<String>> = replicas
        .iter()
        .map(|r| {
            vec![
                format!("{}[{}]", r.service, r.replica),
                r.state.to_string(),
                r.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!("{}", table(&["SERVICE", "STATE", "WHY"], &rows));
    Ok(ExitCode::SUCCESS)
}
