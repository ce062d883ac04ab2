//! `stockade cancel ID... | stop | start | restart NAME... | --all [--wait]`.
//!
//! Each name may be `name[3]`, one replica. `--wait` follows the event
//! stream (opened before the action, so no change is missed) and re-reads
//! the replicas whenever one of theirs arrives, until each is where it was
//! asked to be: `running`/`ready` for start and restart (a restart first
//! sees its old run end), `stopped` for stop. A replica that gives up or is
//! blocked ends the wait with exit 1.

use crate::cli::{CancelArgs, ScaleArgs, ServiceArgs};
use crate::client::{Client, next_chunk};
use crate::exit::{FAILED, fail};
use crate::render::{print_json, status_table};
use crate::target::Target;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use stockade_proto::{JobState, JobView, ReplicaView, ServiceState, StatusView};

/// Cancel jobs; every id is tried, and the exit is 1 if any could not be.
pub async fn cancel(client: Client, args: &CancelArgs) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    let mut answers = Vec::new();
    for id in &args.ids {
        match client.delete::<JobView>(&format!("/api/jobs/{id}")).await {
            Ok(view) => {
                let what = if view.state == JobState::Running {
                    "cancelling (its box is being stopped)".to_string()
                } else {
                    view.state.to_string()
                };
                if args.json {
                    answers.push(serde_json::json!({"id": id, "ok": true, "job": view}));
                } else {
                    println!("job {id}: {what}");
                }
            }
            Err(err) => {
                failed += 1;
                let (message, hint) = match err.downcast_ref::<crate::exit::Fail>() {
                    Some(f) => (f.message.clone(), f.hint.clone()),
                    None => (format!("{err:#}"), None),
                };
                if args.json {
                    answers.push(
                        serde_json::json!({"id": id, "ok": false, "error": message, "hint": hint}),
                    );
                } else if args.ids.len() == 1 {
                    return Err(err);
                } else {
                    eprintln!("stockade: job {id}: {message}");
                }
            }
        }
    }
    if args.json {
        print_json(&answers)?;
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(FAILED) })
}

/// Start, stop or restart services (or single replicas).
pub async fn service(client: Client, args: &ServiceArgs, action: &str) -> anyhow::Result<ExitCode> {
    let targets = targets(&client, args).await?;
    // Opened before acting, so --wait cannot miss a change.
    let mut events =
        if args.wait { Some(client.stream("/api/events?type=service_state").await?) } else { None };
    let mut acted = Vec::new();
    for target in &targets {
        let query = target.replica.map(|r| format!("?replica={r}")).unwrap_or_default();
        let replicas: Vec<ReplicaView> = client
            .post(&format!("/api/services/{}/{action}{query}", target.name), &serde_json::json!({}))
            .await?;
        acted.extend(replicas);
    }
    if let Some(events) = events.as_mut() {
        let before: BTreeMap<(String, u32), Option<u64>> =
            acted.iter().map(|r| ((r.service.clone(), r.replica), r.started_at)).collect();
        acted = wait(&client, events, &before, action).await?;
    }
    if args.json {
        print_json(&acted)?;
    } else {
        print!("{}", replica_table(&acted));
    }
    let stuck = acted.iter().filter(|r| given_up(r)).count();
    if args.wait && stuck > 0 {
        return Err(fail(
            FAILED,
            format!("{stuck} replica(s) did not get there (gave up or blocked)"),
            Some(
                "see the WHY column, `stockade postmortem NAME` and `stockade logs NAME`"
                    .to_string(),
            ),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `scale NAME N`: run N replicas from now on; with `--wait`, until every
/// kept replica runs (retired ones stop in the background).
pub async fn scale(client: Client, args: &ScaleArgs) -> anyhow::Result<ExitCode> {
    let mut events =
        if args.wait { Some(client.stream("/api/events?type=service_state").await?) } else { None };
    let mut replicas: Vec<ReplicaView> = client
        .post(
            &format!("/api/services/{}/scale", args.name),
            &serde_json::json!({"replicas": args.replicas}),
        )
        .await?;
    if let Some(events) = events.as_mut() {
        // The kept replicas that are meant to run (one stopped by hand stays so).
        let before: BTreeMap<(String, u32), Option<u64>> = replicas
            .iter()
            .filter(|v| v.replica < args.replicas && v.state != ServiceState::Stopped)
            .map(|v| ((v.service.clone(), v.replica), None))
            .collect();
        replicas = wait(&client, events, &before, "start").await?;
    }
    if args.json {
        print_json(&replicas)?;
    } else {
        print!("{}", replica_table(&replicas));
    }
    Ok(ExitCode::SUCCESS)
}

/// The table every service verb prints.
pub fn replica_table(replicas: &[ReplicaView]) -> String {
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
    status_table(&["SERVICE", "STATE", "WHY"], &rows)
}

/// The names asked for, or with `--all` every service the daemon runs.
async fn targets(client: &Client, args: &ServiceArgs) -> anyhow::Result<Vec<Target>> {
    if !args.all {
        return args.names.iter().map(|n| Target::parse(n)).collect();
    }
    let status: StatusView = client.get("/api/status").await?;
    let mut names: Vec<String> = Vec::new();
    for r in &status.services {
        if !names.contains(&r.service) {
            names.push(r.service.clone());
        }
    }
    Ok(names.into_iter().map(|name| Target { name, replica: None }).collect())
}

/// Whether a replica ended somewhere it will not leave by itself.
fn given_up(r: &ReplicaView) -> bool {
    matches!(r.state, ServiceState::GaveUp | ServiceState::Blocked)
}

/// Whether `r` is where `action` asked it to be.
fn arrived(r: &ReplicaView, action: &str, restarted: bool) -> bool {
    match action {
        "stop" => r.state == ServiceState::Stopped,
        "restart" if !restarted => false,
        _ => matches!(r.state, ServiceState::Running | ServiceState::Ready),
    }
}

/// Follow `events` until every replica in `before` (each with the start
/// time of its run when it was acted on) arrived, or gave up.
async fn wait(
    client: &Client,
    events: &mut hyper::body::Incoming,
    before: &BTreeMap<(String, u32), Option<u64>>,
    action: &str,
) -> anyhow::Result<Vec<ReplicaView>> {
    let keys = before;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(keys.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    // A restart is there once its replica left running and came back: seen
    // down in between, or running a run that started later.
    let mut left: BTreeSet<(String, u32)> = BTreeSet::new();
    let mut announced = BTreeSet::new();
    loop {
        let status: StatusView = client.get("/api/status").await?;
        let mine: Vec<ReplicaView> = status
            .services
            .into_iter()
            .filter(|r| keys.contains_key(&(r.service.clone(), r.replica)))
            .collect();
        for r in &mine {
            let key = (r.service.clone(), r.replica);
            let newer =
                r.started_at.is_some() && keys.get(&key).is_some_and(|t| *t != r.started_at);
            if newer || !matches!(r.state, ServiceState::Running | ServiceState::Ready) {
                left.insert(key);
            }
        }
        let done: Vec<&ReplicaView> = mine
            .iter()
            .filter(|r| {
                arrived(r, action, left.contains(&(r.service.clone(), r.replica))) || given_up(r)
            })
            .collect();
        for r in &done {
            if announced.insert((r.service.clone(), r.replica)) {
                bar.println(format!("{}[{}] {}", r.service, r.replica, r.state));
            }
        }
        bar.set_position(done.len() as u64);
        let waiting: Vec<String> = mine
            .iter()
            .filter(|r| !done.iter().any(|d| d.service == r.service && d.replica == r.replica))
            .map(|r| format!("{}[{}] {}", r.service, r.replica, r.state))
            .collect();
        if waiting.is_empty() {
            bar.finish_and_clear();
            return Ok(mine);
        }
        bar.set_message(format!("waiting for {}", waiting.join(", ")));
        match next_chunk(events).await? {
            Some(_) => {}
            None => {
                bar.finish_and_clear();
                return Err(fail(
                    FAILED,
                    "the daemon stopped while waiting",
                    Some("start it again; the replicas' states are in `stockade ps`".to_string()),
                ));
            }
        }
    }
}
