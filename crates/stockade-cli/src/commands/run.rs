//! `stockade run TEMPLATE [-- ARGS]`: submit a job; with `--wait`, follow it
//! and exit 0 only if it succeeds; with `--attach`, also stream its output
//! (the job log's follow endpoint) — Ctrl-C then stops following and says
//! the job keeps running.

use crate::cli::RunArgs;
use crate::client::{Client, next_chunk};
use crate::exit::{FAILED, USAGE, fail};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use stockade_proto::{JobRequest, JobState, JobView, Submitted};

/// How often `--wait` on a terminal refreshes a quiet job's progress line.
const REFRESH: Duration = Duration::from_secs(2);
/// The pause before `--wait` opens an ended event stream again.
const REOPEN: Duration = Duration::from_millis(200);

/// Submit, print the id, and maybe follow.
pub async fn run(client: Client, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let mut env = BTreeMap::new();
    for pair in &args.env {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(fail(
                USAGE,
                format!("--env {pair:?} is not KEY=VALUE"),
                Some("write --env NAME=value".to_string()),
            ));
        };
        env.insert(key.to_string(), value.to_string());
    }
    let request = JobRequest {
        template: args.template.clone(),
        args: args.args.clone(),
        env,
        priority: args.priority,
        idempotency_key: None,
    };
    let submitted: Submitted = client.post("/api/jobs", &request).await?;
    if args.json {
        crate::render::print_json_line(&submitted)?;
    } else if args.attach {
        eprintln!("job {}", submitted.id);
    } else {
        println!("{}", submitted.id);
    }
    if args.attach {
        if let Some(code) = attach(&client, submitted.id.0).await? {
            return Ok(code);
        }
    } else if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let bar = if std::io::stderr().is_terminal() && !args.attach {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} job {prefix}: {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(submitted.id.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    let view = wait_for_end(&client, submitted.id.0, &bar).await?;
    bar.finish_and_clear();
    let cause = view.cause.as_ref().map(|c| format!(" ({c})")).unwrap_or_default();
    eprintln!("job {} {}{cause} after {} attempt(s)", view.id, view.state, view.attempt);
    if view.state == JobState::Succeeded {
        Ok(ExitCode::SUCCESS)
    } else {
        let reason = view.reason.clone().unwrap_or_else(|| view.state.to_string());
        Err(fail(
            FAILED,
            format!("job {} {}: {reason}", view.id, view.state),
            Some(format!("see `stockade postmortem {}` and `stockade logs {}`", view.id, view.id)),
        ))
    }
}

/// Copy the job's output to stdout until it ends; `Some(130)` if Ctrl-C
/// stopped the copy first (the job runs on).
async fn attach(client: &Client, id: u64) -> anyhow::Result<Option<ExitCode>> {
    tokio::select! {
        followed = super::logs::follow_job(client.clone(), id) => followed.map(|_| None),
        _ = tokio::signal::ctrl_c() => {
            eprintln!(
                "\nstockade: stopped following; job {id} keeps running (`stockade logs {id} -F` to follow again, `stockade cancel {id}` to stop it)"
            );
            Ok(Some(ExitCode::from(130)))
        }
    }
}

/// Wait for the job's end without polling: the job's own event stream
/// (`/api/events?job=ID`, opened before the first look, so an end in between
/// is not missed) says when to read its view again. On a terminal the
/// progress line is also refreshed every [`REFRESH`] while nothing happens
/// (a queued job's reason changes without an event of its own). A stream
/// that ends (the daemon restarting) is opened again.
async fn wait_for_end(client: &Client, id: u64, bar: &ProgressBar) -> anyhow::Result<JobView> {
    let path = format!("/api/jobs/{id}");
    // A look every REFRESH even off a TTY: a cluster member's event stream
    // carries only its own host's job events, not those of the host that
    // claimed this job.
    let quiet = REFRESH;
    loop {
        let mut events = client.stream(&format!("/api/events?job={id}&tail=0")).await?;
        loop {
            let view: JobView = client.get(&path).await?;
            bar.set_message(progress(&view));
            if view.state.is_terminal() {
                return Ok(view);
            }
            match tokio::time::timeout(quiet, next_chunk(&mut events)).await {
                // An event of this job, or a keep-alive: look again.
                Ok(Ok(Some(_))) | Err(_) => {}
                Ok(Ok(None) | Err(_)) => break,
            }
        }
        tokio::time::sleep(REOPEN).await;
    }
}

fn progress(view: &JobView) -> String {
    match view.state {
        JobState::Queued => match &view.waiting {
            Some(why) => format!("queued — {why}"),
            None => "queued".into(),
        },
        JobState::Running => format!(
            "running (attempt {}/{}{})",
            view.attempt.max(1),
            view.max_attempts,
            view.pid.map(|p| format!(", pid {p}")).unwrap_or_default()
        ),
        other => other.to_string(),
    }
}
