//! `stockade events [-F]`: the event journal, from the daemon's SSE stream.
//!
//! Filters (`--unit`, `--type`) apply before the window: `--tail 20` shows
//! the newest 20 events that match, not the matches among the newest 20.
//! With `-F`, a stream that ends because the daemon stopped says so on
//! stderr and exits 0 (the follow did its job until there was nothing left
//! to follow).

use crate::cli::EventsArgs;
use crate::client::{Client, next_chunk};
use crate::render::{event_line, print_json_line};
use std::process::ExitCode;
use stockade_proto::Event;

/// The query string of `args` (shared with the offline reader's rules).
pub fn path(args: &EventsArgs) -> String {
    let mut path = match args.since {
        Some(seq) => format!("/api/events?since={seq}"),
        None => format!("/api/events?tail={}", args.tail),
    };
    if let Some(unit) = &args.unit {
        path.push_str(&format!("&unit={unit}"));
    }
    if !args.kind.is_empty() {
        path.push_str(&format!("&type={}", args.kind.join(",")));
    }
    path
}

/// Print events (the last `--tail` or since `--since`); with `-F`, keep following.
pub async fn run(client: Client, args: &EventsArgs) -> anyhow::Result<ExitCode> {
    let mut body = client.stream(&path(args)).await?;
    let mut pending = String::new();
    // Without -F, stop once the replay is done: the stream is idle for a moment.
    let idle = std::time::Duration::from_millis(if args.follow { u64::MAX / 4 } else { 300 });
    loop {
        let chunk = match tokio::time::timeout(idle, next_chunk(&mut body)).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None) | Err(_)) if args.follow => {
                eprintln!("stockade: the daemon stopped; the event stream ended");
                break;
            }
            Ok(Ok(None)) | Err(_) => break,
            Ok(Err(e)) => return Err(e),
        };
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
            let Ok(event) = serde_json::from_str::<Event>(&data) else { continue };
            if args.json {
                print_json_line(&event)?;
            } else {
                println!("{}", event_line(&event));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
