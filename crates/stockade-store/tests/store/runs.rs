//! Runs, their ends, post-mortems and usage peaks.

use crate::setup::{Scratch, new_job, new_run};
use stockade_proto::{
    EventKind, Evidence, ExitCause, HostSnapshot, JobState, LogTail, PostMortem, RunId,
};
use stockade_store::{StoreError, Write};

fn evidence(memory_peak: u64, cpu_usec: u64, runtime_ms: u64) -> Evidence {
    Evidence {
        memory_peak: Some(memory_peak),
        pids_peak: Some(memory_peak / 1000),
        cpu_usec: Some(cpu_usec),
        runtime_ms: Some(runtime_ms),
        decided_by: "test".to_string(),
        ..Evidence::default()
    }
}

fn postmortem(run: RunId, unit: &str) -> PostMortem {
    PostMortem {
        run,
        unit: unit.to_string(),
        summary: format!("run {run} was killed by the OOM killer"),
        cause: ExitCause::OomKilled,
        evidence: evidence(1 << 20, 5, 10),
        limits: Default::default(),
        restart_count: 2,
        started_at: 1,
        ended_at: 2,
        logs: LogTail { stdout: vec!["hello".into()], stderr: vec!["Killed".into()] },
        probes: vec![],
        host: HostSnapshot { mem_available: Some(123), ..HostSnapshot::default() },
    }
}

#[tokio::test]
async fn a_run_starts_ends_once_and_survives_reopen() {
    let scratch = Scratch::new();
    let (job, run) = {
        let store = scratch.open();
        let job = store.submit_job(new_job("agent", 0)).await.unwrap().0.id;
        store.transition_job(job, (JobState::Queued, 0), JobState::Running, None).await.unwrap();
        let run = store.start_run(new_run("agent", Some(job), 1)).await.unwrap();
        let mut service_run = new_run("router", None, 0);
        service_run.pid = None;
        let service = store.start_run(service_run).await.unwrap();
        let started = store.apply(vec![Write::RunPid { run: service, pid: 777 }]).await.unwrap();
        assert_eq!(
            started[0].event().map(|e| &e.kind),
            Some(&EventKind::RunStarted { run: service, pid: 777 })
        );
        assert_eq!(store.run(service).unwrap().unwrap().pid, Some(777));
        let unknown =
            store.apply(vec![Write::RunPid { run: RunId(9999), pid: 1 }]).await.unwrap_err();
        assert!(matches!(unknown, StoreError::UnknownRun { .. }), "{unknown}");
        let open: Vec<RunId> = store.open_runs().unwrap().iter().map(|r| r.id).collect();
        assert_eq!(open, vec![run, service]);

        let event = store
            .end_run(run, (ExitCause::Exited { code: 3 }, evidence(100, 1, 1)), 1_700_000_000_500)
            .await
            .unwrap();
        assert_eq!(event.kind, EventKind::RunExited { run, cause: ExitCause::Exited { code: 3 } });
        assert_eq!(event.at, 1_700_000_000_500);

        let again = store
            .end_run(run, (ExitCause::Lost, Evidence::default()), 1_700_000_000_900)
            .await
            .unwrap_err();
        assert!(matches!(again, StoreError::RunAlreadyEnded { run: r } if r == run), "{again}");
        let unknown = store
            .end_run(RunId(9999), (ExitCause::Lost, Evidence::default()), 1)
            .await
            .unwrap_err();
        assert!(matches!(unknown, StoreError::UnknownRun { .. }), "{unknown}");
        (job, run)
    };

    let store = scratch.open();
    let record = store.run(run).unwrap().expect("run stored");
    assert_eq!(record.ended_at, Some(1_700_000_000_500));
    assert_eq!(record.cause, Some(ExitCause::Exited { code: 3 }));
    assert_eq!(record.evidence, Some(evidence(100, 1, 1)));
    assert_eq!(record.limits, new_run("agent", Some(job), 1).limits);
    assert_eq!(store.runs_of_job(job).unwrap(), vec![record]);
    assert_eq!(store.open_runs().unwrap().len(), 1, "the service run is still open");
    assert_eq!(store.job(job).unwrap().unwrap().cause, Some(ExitCause::Exited { code: 3 }));
}

#[tokio::test]
async fn a_late_end_of_an_old_attempt_does_not_touch_the_job_cause() {
    let scratch = Scratch::new();
    let store = scratch.open();
    let job = store.submit_job(new_job("agent", 0)).await.unwrap().0.id;
    store.transition_job(job, (JobState::Queued, 0), JobState::Running, None).await.unwrap();
    let old = store.start_run(new_run("agent", Some(job), 1)).await.unwrap();
    store.transition_job(job, (JobState::Running, 1), JobState::Queued, None).await.unwrap();
    store.transition_job(job, (JobState::Queued, 1), JobState::Running, None).await.unwrap();
    store.start_run(new_run("agent", Some(job), 2)).await.unwrap();

    store.end_run(old, (ExitCause::Lost, Evidence::default()), 5).await.unwrap();
    assert_eq!(store.job(job).unwrap().unwrap().cause, None);
    assert_eq!(store.run(old).unwrap().unwrap().cause, Some(ExitCause::Lost));
}

#[tokio::test]
async fn postmortems_are_found_by_run_unit_and_job() {
    let scratch = Scratch::new();
    let store = scratch.open();
    let job = store.submit_job(new_job("agent", 0)).await.unwrap().0.id;
    let first = store.start_run(new_run("agent", Some(job), 1)).await.unwrap();
    let second = store.start_run(new_run("agent", Some(job), 2)).await.unwrap();
    let other = store.start_run(new_run("router", None, 0)).await.unwrap();
    store
        .apply(vec![
            Write::PostMortem(postmortem(first, "agent")),
            Write::PostMortem(postmortem(second, "agent")),
            Write::PostMortem(postmortem(other, "router")),
        ])
        .await
        .unwrap();

    assert_eq!(store.postmortem(first).unwrap(), Some(postmortem(first, "agent")));
    assert_eq!(store.postmortem(RunId(12345)).unwrap(), None);
    assert_eq!(store.last_postmortem_of_unit("agent").unwrap(), Some(postmortem(second, "agent")));
    assert_eq!(store.last_postmortem_of_job(job).unwrap(), Some(postmortem(second, "agent")));
    assert_eq!(store.last_postmortem_of_unit("nobody").unwrap(), None);
}

#[tokio::test]
async fn unit_peaks_are_the_maxima_of_ended_runs() {
    let scratch = Scratch::new();
    let store = scratch.open();
    assert_eq!(store.unit_peaks("agent").unwrap(), None);
    for (memory, cpu_usec, runtime_ms) in
        [(1000, 500_000, 1000), (5000, 100_000, 1000), (3000, 3_000_000, 2000)]
    {
        let run = store.start_run(new_run("agent", None, 0)).await.unwrap();
        store
            .end_run(
                run,
                (ExitCause::Exited { code: 0 }, evidence(memory, cpu_usec, runtime_ms)),
                9,
            )
            .await
            .unwrap();
    }
    store.start_run(new_run("agent", None, 0)).await.unwrap(); // still running: ignored
    let peaks = store.unit_peaks("agent").unwrap().expect("peaks");
    assert_eq!(peaks.runs, 3);
    assert_eq!(peaks.memory_peak, Some(5000));
    assert_eq!(peaks.pids_peak, Some(5));
    assert_eq!(peaks.cpu_usec, Some(3_000_000));
    assert_eq!(peaks.cpus, Some(1.5));
    assert_eq!(peaks.runtime_ms, Some(2000));
    assert_eq!(store.runs_of_unit("agent", 2).unwrap().len(), 2);
}
