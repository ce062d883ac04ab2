//! Writes the database fixture `tests/fixtures/v1.sqlite3` (schema version 1)
//! that `tests/store/fixture.rs` migrates and reads back. It was run once when
//! version 1 was final; keep the committed file, do not regenerate it after
//! the schema moves on (that would stop testing the migration from v1).
//!
//! `cargo run -p stockade-store --example v1_fixture -- OUT.sqlite3`

use std::collections::BTreeMap;
use stockade_proto::{
    Evidence, ExitCause, HostSnapshot, JobState, Limits, LogTail, PostMortem, UnitKind,
};
use stockade_store::{NewJob, NewRun, Store, StoreOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: v1_fixture OUT.sqlite3")?;
    let store = Store::open(out.as_ref(), StoreOptions::default())?;
    let job = |priority| NewJob {
        template: "agent".to_string(),
        pool: "default".to_string(),
        args: vec!["--task".to_string(), "fix the build".to_string()],
        env: BTreeMap::from([("MODE".to_string(), "fast".to_string())]),
        priority,
        max_attempts: 1,
        submitted_at: 1_700_000_000_000,
        idempotency_key: None,
        source: stockade_proto::JobSource::Api,
    };
    let run = |job, started_at| NewRun {
        unit: "agent".to_string(),
        kind: UnitKind::Job,
        job: Some(job),
        replica: 0,
        attempt: 1,
        pid: Some(4242),
        box_name: "stockade/agent/1".to_string(),
        started_at,
        limits: Limits { memory: Some(256 << 20), pids: Some(100), ..Limits::default() },
    };

    store.submit_job(job(5)).await?;

    let (failed, _) = store.submit_job(job(0)).await?;
    store.transition_job(failed.id, (JobState::Queued, 0), JobState::Running, None).await?;
    let run1 = store.start_run(run(failed.id, 1_700_000_000_100)).await?;
    let evidence = Evidence {
        signal: Some(9),
        oom_kills: Some(1),
        memory_peak: Some(256 << 20),
        memory_limit: Some(256 << 20),
        decided_by: "main process killed by SIGKILL and oom_kill rose 0→1".to_string(),
        ..Evidence::default()
    };
    store.end_run(run1, (ExitCause::OomKilled, evidence.clone()), 1_700_000_000_900).await?;
    store
        .store_postmortem(PostMortem {
            run: run1,
            unit: "agent".to_string(),
            summary: "agent was killed by the OOM killer at its 256 MiB limit".to_string(),
            cause: ExitCause::OomKilled,
            evidence,
            limits: Limits { memory: Some(256 << 20), ..Limits::default() },
            restart_count: 0,
            started_at: 1_700_000_000_100,
            ended_at: 1_700_000_000_900,
            logs: LogTail {
                stdout: vec!["allocating".to_string()],
                stderr: vec!["Killed".to_string()],
            },
            probes: vec![],
            host: HostSnapshot { mem_available: Some(20 << 30), ..HostSnapshot::default() },
        })
        .await?;
    store
        .transition_job(
            failed.id,
            (JobState::Running, 1),
            JobState::Failed,
            Some("oom_killed".into()),
        )
        .await?;

    let (running, _) = store.submit_job(job(0)).await?;
    store.transition_job(running.id, (JobState::Queued, 0), JobState::Running, None).await?;
    store.start_run(run(running.id, 1_700_000_001_000)).await?;
    Ok(())
}
