//! Post-mortems: the record of an abnormal end, led by one sentence that says
//! what happened and what to do.

use crate::launcher::Exit;
use stockade_linux::{Signal, human_bytes};
use stockade_proto::{
    Evidence, ExitCause, HostSnapshot, Limits, PostMortem, ProbeRecord, RunId, now_millis,
};

/// What a post-mortem is built from.
pub struct Input<'a> {
    /// The run.
    pub run: RunId,
    /// Its service or job template.
    pub unit: &'a str,
    /// How it ended.
    pub exit: &'a Exit,
    /// The limits in force.
    pub limits: &'a Limits,
    /// Restarts (or attempts) before this run.
    pub restart_count: u32,
    /// When the run started.
    pub started_at: Option<u64>,
    /// Probe results, oldest first.
    pub probes: Vec<ProbeRecord>,
    /// The host at death.
    pub host: HostSnapshot,
}

/// Assemble the post-mortem.
pub fn build(input: Input<'_>) -> PostMortem {
    let ended_at = now_millis();
    let exit = input.exit;
    PostMortem {
        run: input.run,
        unit: input.unit.to_string(),
        summary: summarize(&exit.cause, &exit.evidence, input.limits, &input.host),
        cause: exit.cause.clone(),
        evidence: exit.evidence.clone(),
        limits: input.limits.clone(),
        restart_count: input.restart_count,
        started_at: input.started_at.unwrap_or(ended_at),
        ended_at,
        logs: exit.logs.clone(),
        probes: input.probes,
        host: input.host,
    }
}

/// Host memory pressure (PSI `full avg10`) above this share means the host,
/// not the box, was short of memory.
const HOST_PRESSURE_FULL: f64 = 10.0;

/// One sentence: what happened, and what to do.
pub fn summarize(cause: &ExitCause, ev: &Evidence, limits: &Limits, host: &HostSnapshot) -> String {
    let host_starved = host.psi_memory_full.is_some_and(|p| p >= HOST_PRESSURE_FULL)
        || matches!((host.mem_available, host.mem_total), (Some(a), Some(t)) if t > 0 && a * 100 / t < 3);
    match cause {
        ExitCause::OomKilled => {
            let peak = ev.memory_peak.map(human_bytes).unwrap_or_else(|| "unknown".into());
            match ev.memory_limit.or(limits.memory) {
                Some(limit) if ev.memory_peak.is_some_and(|p| p + (1 << 20) >= limit) => format!(
                    "killed by the OOM killer inside its box: peak {peak} = its limit; raise `memory` or fix the leak"
                ),
                Some(limit) => format!(
                    "killed by the OOM killer inside its box (peak {peak}, limit {}); raise `memory` or fix the leak",
                    human_bytes(limit)
                ),
                None => format!("killed by the OOM killer (peak {peak}); set a `memory` limit so one agent cannot starve the host"),
            }
        }
        ExitCause::Signaled { signal: 9, .. } if host_starved => format!(
            "killed by SIGKILL while the host was short of memory (MemAvailable {}, PSI memory full {}): the host, not its box, ran out; run fewer agents or add memory",
            host.mem_available.map(human_bytes).unwrap_or_else(|| "unknown".into()),
            host.psi_memory_full.map(|p| format!("{p:.1}%")).unwrap_or_else(|| "unknown".into()),
        ),
        ExitCause::PidsLimit => format!(
            "failed after its box hit the pids limit ({} tasks, {} forks refused); raise `pids` or find what forks so much",
            ev.pids_limit.or(limits.pids).map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
            ev.pids_max_hits.unwrap_or(0)
        ),
        ExitCause::TimedOut => "ran past its timeout and was stopped; raise `timeout` or make it finish sooner".into(),
        ExitCause::LivenessFailed => "its liveness probe kept failing, so it was restarted; see the probe history below".into(),
        ExitCause::SpawnFailed { message, hint, .. } => format!("never started: {message}; {hint}"),
        ExitCause::Lost => "lost: the daemon restarted and the run's processes were gone; the retry policy decides what happens next".into(),
        ExitCause::Interrupted => format!(
            "interrupted: what became of it cannot be known ({}); `on_interrupt` decides whether it runs again",
            ev.decided_by
        ),
        ExitCause::Stopped => "stopped on request".into(),
        ExitCause::Exited { code } => {
            let side = match ev.oom_kills {
                Some(n) if n > 0 => format!(" ({n} process(es) in its box were OOM-killed first)"),
                _ => String::new(),
            };
            format!("exited with status {code}{side}; its last lines of output are below")
        }
        ExitCause::Signaled { signal, core_dumped } => format!(
            "killed by signal {signal} ({}){}, sent from outside stockade",
            Signal::name_of(*signal).unwrap_or("signal"),
            if *core_dumped { ", core dumped" } else { "" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_at_the_limit_says_raise_memory() {
        let ev = Evidence {
            memory_peak: Some(512 << 20),
            memory_limit: Some(512 << 20),
            ..Evidence::default()
        };
        let s = summarize(&ExitCause::OomKilled, &ev, &Limits::default(), &HostSnapshot::default());
        assert_eq!(
            s,
            "killed by the OOM killer inside its box: peak 512 MiB = its limit; raise `memory` or fix the leak"
        );
    }

    #[test]
    fn a_sigkill_under_host_pressure_blames_the_host() {
        let host = HostSnapshot {
            psi_memory_full: Some(42.0),
            mem_available: Some(100 << 20),
            ..HostSnapshot::default()
        };
        let cause = ExitCause::Signaled { signal: 9, core_dumped: false };
        let s = summarize(&cause, &Evidence::default(), &Limits::default(), &host);
        assert!(s.contains("the host, not its box, ran out"), "{s}");
    }

    #[test]
    fn an_exit_with_an_oom_side_fact_mentions_it() {
        let ev = Evidence { oom_kills: Some(1), ..Evidence::default() };
        let s = summarize(
            &ExitCause::Exited { code: 0 },
            &ev,
            &Limits::default(),
            &HostSnapshot::default(),
        );
        assert!(s.contains("OOM-killed first"), "{s}");
    }
}
