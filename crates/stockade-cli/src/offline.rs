//! The read-only verbs with the daemon down: `logs`, `postmortem`, `events`
//! and `ps -a` read the store with [`Store::open_read_only`] (no lock, no
//! migration, no move-aside, no marker write) and the log files directly,
//! after saying on stderr that the daemon is not running.

use crate::cli::{EventsArgs, LogsArgs, PostmortemArgs, PsArgs};
use crate::exit::{FAILED, fail};
use crate::render::{clock, duration_ms, event_line, table};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use stockade_proto::{JobId, JobState, PostMortem, RunId, Seq, now_millis};
use stockade_spec::Spec;
use stockade_store::{JobFilter, Store};

/// The spec and its store, opened read-only.
pub struct Offline {
    spec: Spec,
    store: Store,
}

impl Offline {
    /// Open the store of `spec` read-only and print the note.
    pub fn open(spec: Spec) -> anyhow::Result<Offline> {
        let path = spec.daemon.state_dir.join("stockade.db");
        let store = Store::open_read_only(&path)?;
        eprintln!(
            "stockade: the daemon is not running; showing what the store at {} recorded",
            path.display()
        );
        Ok(Offline { spec, store })
    }

    fn state_dir(&self) -> &Path {
        &self.spec.daemon.state_dir
    }
}

/// `logs` from the log files.
pub fn logs(offline: &Offline, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    use crate::commands::logs::{Line, Printer, Style};
    let mut sources: Vec<(String, PathBuf)> = Vec::new();
    for target in &args.targets {
        if let Ok(id) = target.parse::<u64>() {
            if offline.store.job(JobId(id))?.is_none() {
                return Err(fail(FAILED, format!("no job {id} in the store"), None));
            }
            sources.push((
                format!("job {id}"),
                offline.state_dir().join("logs/jobs").join(format!("{id}.log")),
            ));
            continue;
        }
        let (name, replica) = match target.strip_suffix(']').and_then(|t| t.split_once('[')) {
            Some((name, i)) => (name.to_string(), i.parse::<u32>().ok()),
            None => (target.clone(), args.replica),
        };
        let Some(service) = offline.spec.service(&name) else {
            let known: Vec<_> = offline.spec.services.iter().map(|s| s.name.as_str()).collect();
            return Err(fail(
                FAILED,
                format!("no service `{name}` in the spec"),
                Some(format!("known services: {}", known.join(", "))),
            ));
        };
        let replicas: Vec<u32> = match replica {
            Some(r) => vec![r],
            None => (0..service.replicas.max(1)).collect(),
        };
        for r in replicas {
            sources.push((
                format!("{name}[{r}]"),
                offline.state_dir().join("logs").join(format!("{name}.{r}.log")),
            ));
        }
    }
    if args.follow {
        eprintln!(
            "stockade: not following without a daemon (the boxes still log; start the daemon to follow)"
        );
    }
    let keep = offline.spec.daemon.log_keep;
    let mut all: Vec<(usize, Line)> = Vec::new();
    for (i, (_, path)) in sources.iter().enumerate() {
        let mut from = None;
        let mut lines = std::collections::VecDeque::new();
        let mut before = std::collections::VecDeque::new();
        loop {
            let (read, next) = stockade_engine::log_read::read(path, keep, from)?;
            if read.is_empty() {
                break;
            }
            from = Some(next);
            for l in read {
                if l.start {
                    if args.previous {
                        before = std::mem::take(&mut lines);
                    }
                    continue;
                }
                lines.push_back(Line {
                    ts: l.ts_ns.map(stockade_proto::log_record::format_rfc3339),
                    stream: l.stream.as_str().to_string(),
                    text: l.text,
                    partial: l.partial,
                    pos: l.pos.to_string(),
                });
                if args.tail.is_some_and(|t| lines.len() > t) {
                    lines.pop_front();
                }
            }
        }
        let lines = if args.previous { before } else { lines };
        all.extend(lines.into_iter().map(|l| (i, l)));
    }
    if sources.len() > 1 {
        all.sort_by(|a, b| a.1.ts.cmp(&b.1.ts));
    }
    let style = Style {
        prefix_width: if sources.len() > 1 {
            sources.iter().map(|s| s.0.len()).max().unwrap_or(0)
        } else {
            0
        },
        timestamps: args.timestamps,
        colour: false,
    };
    let mut out = Printer::new(style);
    for (i, line) in &all {
        out.print(&sources[*i].0, line, args.json)?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// `postmortem` from the store.
pub fn postmortem(offline: &Offline, args: &PostmortemArgs) -> anyhow::Result<ExitCode> {
    let target = args.target.as_str();
    let store = &offline.store;
    let id = |text: &str| {
        text.parse::<u64>().map_err(|_| fail(FAILED, format!("`{text}` is not a number"), None))
    };
    let found: Option<PostMortem> = if let Some(run) = target.strip_prefix("run:") {
        store.postmortem(RunId(id(run)?))?
    } else if let Some(job) = target.strip_prefix("job:") {
        store.last_postmortem_of_job(JobId(id(job)?))?
    } else if let Ok(job) = target.parse::<u64>() {
        store.last_postmortem_of_job(JobId(job))?
    } else if target.contains('[') {
        // With the daemon down there is no live replica count to check
        // against: a replica that never ran simply has no post-mortem.
        match crate::target::Target::parse(target)? {
            crate::target::Target { name, replica: Some(r) } => {
                store.last_postmortem_of_replica(&name, r)?
            }
            crate::target::Target { name, replica: None } => {
                store.last_postmortem_of_unit(&name)?
            }
        }
    } else {
        store.last_postmortem_of_unit(target)?
    };
    let Some(pm) = found else {
        return Err(fail(
            FAILED,
            format!("no post-mortem for {target}"),
            Some("post-mortems are kept for abnormal ends only; a clean exit or an asked-for stop has none".to_string()),
        ));
    };
    if args.json {
        crate::render::print_json(&pm)?;
    } else {
        print!("{}", crate::commands::postmortem::render(&pm));
    }
    Ok(ExitCode::SUCCESS)
}

/// `events` from the store (no following): the filters apply before the
/// window, as the daemon's stream does.
pub fn events(offline: &Offline, args: &EventsArgs) -> anyhow::Result<ExitCode> {
    let store = &offline.store;
    if args.follow {
        eprintln!("stockade: not following: no events happen while the daemon is down");
    }
    let wanted = |event: &stockade_proto::Event| -> anyhow::Result<bool> {
        let value = serde_json::to_value(event)?;
        let kind = value["type"].as_str().unwrap_or_default().to_owned();
        Ok(args.unit.as_ref().is_none_or(|u| *u == event.unit)
            && (args.kind.is_empty() || args.kind.contains(&kind)))
    };
    let mut shown = Vec::new();
    match args.since {
        Some(seq) => {
            let mut after = Seq(seq);
            loop {
                let page = store.events_since(after, 500)?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for event in page {
                    if wanted(&event)? {
                        shown.push(event);
                    }
                }
            }
        }
        None => {
            let mut before = Seq(store.last_seq()?.0.saturating_add(1));
            'back: while (shown.len() as u64) < args.tail {
                let page = store.events_before(before, 500)?;
                let Some(oldest) = page.last() else { break };
                before = oldest.seq;
                for event in page {
                    if wanted(&event)? {
                        shown.push(event);
                        if shown.len() as u64 == args.tail {
                            break 'back;
                        }
                    }
                }
            }
            shown.reverse();
        }
    }
    for event in &shown {
        if args.json {
            crate::render::print_json_line(event)?;
        } else {
            println!("{}", event_line(event));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ps` from the store: each service's last run, and the jobs (with `-a`,
/// the newest 50 finished ones too).
pub fn ps(offline: &Offline, args: &PsArgs) -> anyhow::Result<ExitCode> {
    let store = &offline.store;
    let states = if args.all { Vec::new() } else { vec![JobState::Queued, JobState::Running] };
    let limit = if args.all { None } else { Some(args.limit.max(1)) };
    let (jobs, total) =
        store.job_page(&JobFilter { states, limit, ..JobFilter::default() }, None)?;
    let left_out = total.saturating_sub(jobs.len() as u64);
    let views: Vec<_> = jobs.iter().map(stockade_engine::job_view_from_record).collect();
    let mut services = Vec::new();
    for service in &offline.spec.services {
        let last = store.runs_of_unit(&service.name, 1)?.into_iter().next();
        services.push((service.name.clone(), last));
    }
    if args.json {
        let services: Vec<_> = services
            .iter()
            .map(|(name, run)| {
                serde_json::json!({
                    "service": name,
                    "state": "down",
                    "last_run": run.as_ref().map(|r| serde_json::json!({
                        "id": r.id, "replica": r.replica, "pid": r.pid,
                        "started_at": r.started_at, "ended_at": r.ended_at, "cause": r.cause,
                    })),
                })
            })
            .collect();
        let body = serde_json::json!({
            "daemon": "not_running",
            "services": services,
            "jobs": views,
            "jobs_total": total,
            "jobs_left_out": left_out,
        });
        crate::render::print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !services.is_empty() {
        let rows: Vec<Vec<String>> = services
            .iter()
            .map(|(name, run)| match run {
                Some(r) => vec![
                    name.clone(),
                    "down".into(),
                    format!("run {} [{}]", r.id, r.replica),
                    clock(r.started_at),
                    r.ended_at
                        .map(clock)
                        .unwrap_or_else(|| "open (the daemon stopped or died)".into()),
                    r.cause.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                ],
                None => vec![
                    name.clone(),
                    "down".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "never ran".into(),
                ],
            })
            .collect();
        print!("{}", table(&["SERVICE", "STATE", "LAST RUN", "STARTED", "ENDED", "CAUSE"], &rows));
    }
    if !views.is_empty() {
        if !services.is_empty() {
            println!();
        }
        let now = now_millis();
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|j| {
                vec![
                    j.id.to_string(),
                    j.template.clone(),
                    j.state.to_string(),
                    j.pool.clone(),
                    format!("{}/{}", j.attempt, j.max_attempts),
                    duration_ms(now.saturating_sub(j.started_at.unwrap_or(j.submitted_at))),
                    j.reason
                        .clone()
                        .or_else(|| j.cause.as_ref().map(|c| c.to_string()))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        print!("{}", table(&["JOB", "TEMPLATE", "STATE", "POOL", "ATTEMPT", "AGE", "WHY"], &rows));
    }
    if left_out > 0 {
        println!(
            "… {left_out} more job(s) not shown ({} of {total}; --limit N shows more, --all every job)",
            views.len()
        );
    }
    if services.is_empty() && views.is_empty() {
        println!("nothing recorded (no services in the spec, no jobs in the store)");
    }
    Ok(ExitCode::SUCCESS)
}
