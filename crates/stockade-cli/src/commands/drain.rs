//! `stockade drain [--undo]`: this cluster member stops (or resumes)
//! claiming jobs from the shared queue (`POST /api/cluster/drain`); what it
//! runs goes on. Unlike `down --drain` the daemon stays up.

use crate::cli::DrainArgs;
use crate::client::Client;
use crate::render::print_json;
use std::process::ExitCode;
use stockade_proto::ClusterView;

/// Drain this member, or with `--undo` resume it.
pub async fn run(client: Client, args: &DrainArgs) -> anyhow::Result<ExitCode> {
    let view: ClusterView =
        client.post("/api/cluster/drain", &serde_json::json!({"draining": !args.undo})).await?;
    if args.json {
        print_json(&view)?;
    } else {
        println!("{}", sentence(&view, args.undo));
    }
    Ok(ExitCode::SUCCESS)
}

/// What happened, in one line.
fn sentence(view: &ClusterView, undo: bool) -> String {
    if undo {
        return format!("{} claims work again", view.host);
    }
    let held = match view.hosts.iter().find(|h| h.name == view.host).map(|h| h.running) {
        Some(0) => " (none now)".to_owned(),
        Some(1) => " (1 job)".to_owned(),
        Some(n) => format!(" ({n} jobs)"),
        None => String::new(),
    };
    format!(
        "{} is draining: it claims nothing and runs what it holds{held}; `stockade drain --undo` resumes",
        view.host
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_proto::{Headroom, HostState, HostView};

    #[test]
    fn drain_says_what_it_holds_and_how_to_undo() {
        let view = ClusterView {
            host: "h2".into(),
            epoch: 3,
            database: "postgres://db/q".into(),
            leader: None,
            degraded: None,
            heartbeat_ms: 2_000,
            stop_after_ms: 10_000,
            lost_after_ms: 20_000,
            queued: 0,
            running: 4,
            hosts: vec![HostView {
                name: "h2".into(),
                epoch: 3,
                state: HostState::Draining,
                lease_age_ms: 100,
                started_at: 0,
                version: "0.1.0".into(),
                headroom: Headroom::default(),
                running: 4,
                leader: false,
            }],
        };
        assert_eq!(
            sentence(&view, false),
            "h2 is draining: it claims nothing and runs what it holds (4 jobs); `stockade drain --undo` resumes"
        );
        assert_eq!(sentence(&view, true), "h2 claims work again");
    }
}
