//! `stockade down [--drain[=GRACE]]`: stop the daemon through its API and
//! wait until its process is gone.
//!
//! Plain: as SIGTERM — services stop in reverse dependency order, running
//! jobs are stopped and requeued (or left running, `on_stop = "leave"`).
//! `--drain`: first admit nothing new (submissions get a 503 `draining`) and
//! let running jobs finish for up to GRACE (default 5m), then the same.

use crate::cli::DownArgs;
use crate::client::Client;
use crate::exit::{USAGE, fail};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;

/// Ask the daemon to stop and wait for it.
pub async fn run(client: Client, args: &DownArgs) -> anyhow::Result<ExitCode> {
    let body = match &args.drain {
        None => json!({}),
        Some(grace) => {
            let grace = match grace.as_deref() {
                None | Some("") => None,
                Some(text) => Some(parse_grace(text)?),
            };
            json!({"drain": true, "grace": grace})
        }
    };
    let answer: Value = client.post("/api/daemon/shutdown", &body).await?;
    let pid = answer["pid"].as_u64().unwrap_or(0) as i32;
    match answer["grace"].as_f64() {
        Some(grace) => eprintln!(
            "stockade: daemon pid {pid} is draining: no new jobs; running jobs may finish within {}",
            crate::render::duration_ms((grace * 1000.0) as u64)
        ),
        None => eprintln!("stockade: daemon pid {pid} is stopping"),
    }
    while pid > 0 && alive(pid) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if args.json {
        crate::render::print_json(&json!({"pid": pid, "stopped": true}))?;
    } else {
        println!("stopped: daemon pid {pid}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `30s`, `5m`, `1h30m`, or plain seconds.
fn parse_grace(text: &str) -> anyhow::Result<f64> {
    if let Ok(secs) = text.parse::<f64>() {
        return Ok(secs);
    }
    stockade_spec::parse_duration(text).map(|d| d.as_secs_f64()).map_err(|e| {
        fail(
            USAGE,
            format!("--drain={text}: {e}"),
            Some("give a duration like 30s, 5m or 1h".to_string()),
        )
    })
}

/// Whether `pid` is a live process (a zombie counts as gone: it has exited).
fn alive(pid: i32) -> bool {
    let Ok(pid) = u32::try_from(pid) else { return false };
    stockade_linux::proc::read_pid_stat(std::path::Path::new("/proc"), pid)
        .is_ok_and(|stat| !stat.has_exited())
}
