//! `stockade run TEMPLATE [-- ARGS]`: submit a job; with `--wait`, follow it
//! and exit 0 only if it succeeds.

use crate::cli::RunArgs;
use crate::client::Client;
use crate::exit::{FAILED, USAGE, fail};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use stockade_proto::{JobRequest, JobState, JobView, Submitted};

/// How often `--wait` asks about the job.
const POLL: Duration = Duration::from_millis(200);

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
        println!("{}", serde_json::to_string(&submitted)?);
    } else {
        println!("{}", submitted.id);
    }
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let bar = if std::io::stderr().is_terminal() {
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
    let path = format!("/api/jobs/{}", submitted.id);
    let view = loop {
        let view: JobView = client.get(&path).await?;
        bar.set_message(progress(&view));
        if view.state.is_terminal() {
            break view;
        }
        tokio::time::sleep(POLL).await;
    };
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
