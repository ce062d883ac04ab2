//! `stockade postmortem RUN|JOB|SERVICE|SERVICE[N]`: why a run ended, led
//! by one sentence that says what happened and what to do.

use crate::cli::PostmortemArgs;
use crate::client::Client;
use crate::render::{bytes, clock, duration_ms};
use crate::target::Target;
use std::fmt::Write;
use std::process::ExitCode;
use stockade_proto::PostMortem;

/// Fetch and print a post-mortem.
pub async fn run(client: Client, args: &PostmortemArgs) -> anyhow::Result<ExitCode> {
    let target = args.target.as_str();
    let path = if let Some(run) = target.strip_prefix("run:") {
        format!("/api/postmortems/{run}")
    } else if let Some(job) = target.strip_prefix("job:") {
        format!("/api/postmortems?job={job}")
    } else if target.parse::<u64>().is_ok() {
        format!("/api/postmortems?job={target}")
    } else if target.contains('[') {
        let Target { name, replica } = Target::parse(target)?;
        let replica = replica.map(|r| format!("&replica={r}")).unwrap_or_default();
        format!("/api/postmortems?unit={name}{replica}")
    } else {
        format!("/api/postmortems?unit={target}")
    };
    let pm: PostMortem = client.get(&path).await?;
    if args.json {
        crate::render::print_json(&pm)?;
    } else {
        print!("{}", render(&pm));
    }
    Ok(ExitCode::SUCCESS)
}

/// The text form.
pub fn render(pm: &PostMortem) -> String {
    let mut out = String::new();
    let ev = &pm.evidence;
    let _ = writeln!(out, "{}: {}", pm.unit, pm.summary);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "run        {} ({} → {}, {})",
        pm.run,
        clock(pm.started_at),
        clock(pm.ended_at),
        duration_ms(ev.runtime_ms.unwrap_or(pm.ended_at.saturating_sub(pm.started_at)))
    );
    let _ = writeln!(out, "cause      {}", pm.cause);
    let _ =
        writeln!(out, "decided by {}", if ev.decided_by.is_empty() { "-" } else { &ev.decided_by });
    let status = match (ev.exit_code, ev.signal) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => {
            format!("signal {sig}{}", if ev.core_dumped { " (core dumped)" } else { "" })
        }
        _ => "-".into(),
    };
    let _ = writeln!(out, "status     {status}");
    let opt = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "memory     peak {} of limit {}; limit hit {} time(s); OOM kills {}",
        ev.memory_peak.map(bytes).unwrap_or_else(|| "-".into()),
        ev.memory_limit.or(pm.limits.memory).map(bytes).unwrap_or_else(|| "none".into()),
        opt(ev.memory_max_hits),
        opt(ev.oom_kills)
    );
    let _ = writeln!(
        out,
        "pids       peak {} of limit {}; forks refused {}",
        opt(ev.pids_peak),
        ev.pids_limit.or(pm.limits.pids).map(|p| p.to_string()).unwrap_or_else(|| "none".into()),
        opt(ev.pids_max_hits)
    );
    let _ = writeln!(
        out,
        "cpu        {} used",
        ev.cpu_usec.map(|u| duration_ms(u / 1000)).unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(out, "restarts   {}", pm.restart_count);
    let h = &pm.host;
    let _ = writeln!(
        out,
        "host       MemAvailable {}, PSI memory some/full {}/{}, threads {}/{}, tasks {}/{}",
        h.mem_available.map(bytes).unwrap_or_else(|| "-".into()),
        h.psi_memory_some.map(|p| format!("{p:.1}")).unwrap_or_else(|| "-".into()),
        h.psi_memory_full.map(|p| format!("{p:.1}")).unwrap_or_else(|| "-".into()),
        opt(h.threads),
        opt(h.threads_max),
        opt(h.tasks),
        opt(h.pid_max)
    );
    for note in &ev.notes {
        let _ = writeln!(out, "note       {note}");
    }
    if !pm.probes.is_empty() {
        let _ = writeln!(out, "\nprobes (oldest first):");
        for p in &pm.probes {
            let _ = writeln!(
                out,
                "  {}  {:<9} {}  {}",
                clock(p.at),
                p.probe,
                if p.ok { "ok  " } else { "FAIL" },
                p.detail
            );
        }
    }
    for (name, lines) in [("stdout", &pm.logs.stdout), ("stderr", &pm.logs.stderr)] {
        if !lines.is_empty() {
            let _ = writeln!(out, "\nlast {} line(s) of {name}:", lines.len());
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    out
}
