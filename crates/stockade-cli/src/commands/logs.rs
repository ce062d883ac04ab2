//! `stockade logs NAME|ID [-f]`: a service replica's or a job's output.

use crate::cli::LogsArgs;
use crate::client::{Client, next_chunk};
use std::io::Write;
use std::process::ExitCode;

/// Print (and with `-f`, follow) the output.
pub async fn run(client: Client, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let follow = if args.follow { "true" } else { "false" };
    let path = match args.target.parse::<u64>() {
        Ok(id) => format!("/api/jobs/{id}/logs?follow={follow}"),
        Err(_) => {
            format!("/api/services/{}/logs?replica={}&follow={follow}", args.target, args.replica)
        }
    };
    let mut body = client.stream(&path).await?;
    let mut out = std::io::stdout();
    while let Some(chunk) = next_chunk(&mut body).await? {
        out.write_all(&chunk)?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
