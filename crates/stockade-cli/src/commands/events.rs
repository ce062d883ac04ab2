//! `stockade events [-f]`: the event journal, from the daemon's SSE stream.

use crate::cli::EventsArgs;
use crate::client::{Client, next_chunk};
use crate::render::event_line;
use std::process::ExitCode;
use stockade_proto::Event;

/// How many past events are shown when no `--since` is given.
const BACKLOG: u64 = 20;

/// Print events (the last 20 or since `--since`); with `-f`, keep following.
pub async fn run(client: Client, args: &EventsArgs) -> anyhow::Result<ExitCode> {
    let mut path = match args.since {
        Some(seq) => format!("/api/events?since={seq}"),
        None => format!("/api/events?tail={BACKLOG}"),
    };
    if let Some(unit) = &args.unit {
        path.push_str(&format!("&unit={unit}"));
    }
    if let Some(kind) = &args.kind {
        path.push_str(&format!("&type={kind}"));
    }
    let mut body = client.stream(&path).await?;
    let mut pending = String::new();
    // Without -f, stop once the replay is done: the stream is idle for a moment.
    let idle = std::time::Duration::from_millis(if args.follow { u64::MAX / 4 } else { 300 });
    loop {
        let chunk = match tokio::time::timeout(idle, next_chunk(&mut body)).await {
            Ok(chunk) => chunk?,
            Err(_) => break,
        };
        let Some(chunk) = chunk else { break };
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if data.is_empty() {
                continue;
            }
            if args.json {
                println!("{data}");
            } else if let Ok(event) = serde_json::from_str::<Event>(&data) {
                println!("{}", event_line(&event));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
