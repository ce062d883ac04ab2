use crate::helpers::*;
use std::time::Duration;
use stockade_engine::engine::HostSample;
use stockade_host::{Headroom, Reserve, TaskCeiling};
use stockade_proto::{JobRequest, JobState};

const GIB: u64 = 1 << 30;

fn room(memory: u64, tasks: u64) -> HostSample {
    HostSample {
        headroom: Some(Headroom {
            memory: Some(memory),
            tasks: Some(tasks),
            task_ceiling: Some(TaskCeiling::PidMax),
            files: None,
            reserve: Reserve::default(),
        }),
        psi_memory_some: Some(0.0),
        psi_cpu_some: Some(0.0),
    }
}

fn job(template: &str) -> JobRequest {
    JobRequest { template: template.into(), ..JobRequest::default() }
}

#[tokio::test(start_paused = true)]
async fn a_job_waits_for_host_headroom_and_says_which_limit_holds_it() {
    let h = start(
        r#"
[pool.p]
max_concurrency = 4

[job.big]
command = ["agent"]
pool = "p"
limits = { memory = "1GiB", pids = 100 }
"#,
    );
    h.host.send(room(GIB + GIB / 2, 10_000)).unwrap();
    let ids: Vec<_> = {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(h.handle.submit(job("big")).await.unwrap().id);
        }
        ids
    };
    launches(&h, 1).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.launcher.launches().len(), 1, "only one 1 GiB job fits in 1.5 GiB");
    let waiting = h.handle.job(ids[1]).await.unwrap();
    assert_eq!(waiting.state, JobState::Queued);
    assert_eq!(
        waiting.waiting.as_deref(),
        Some("host memory headroom: needs 1 GiB, 512 MiB free above the 1 GiB reserve")
    );
    // Tasks bind too: plenty of memory, room for one job's 100 pids only.
    h.host.send(room(64 * GIB, 150)).unwrap();
    launches(&h, 2).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.launcher.launches().len(), 2);
    let waiting = h.handle.job(ids[2]).await.unwrap();
    assert!(waiting.waiting.unwrap().starts_with("host task headroom: needs 100 tasks, 50 free"));
    // The host has room again: the last one starts.
    h.host.send(room(64 * GIB, 10_000)).unwrap();
    launches(&h, 3).await;
}

#[tokio::test(start_paused = true)]
async fn an_auto_pool_grows_while_healthy_and_busy_and_shrinks_under_pressure() {
    let h = start(
        r#"
[pool.auto]
max_concurrency = "auto"
min = 2
max = 8

[job.t]
command = ["agent"]
pool = "auto"
limits = { memory = "1MiB", pids = 10 }
"#,
    );
    let requests = (0..40).map(|_| job("t")).collect();
    h.handle.submit_many(requests).await.unwrap();
    launches(&h, 2).await;
    let limit = |h: &Harness| {
        let handle = h.handle.clone();
        async move {
            let pools = handle.queue().await.unwrap();
            let pool = pools.into_iter().find(|p| p.name == "auto").unwrap();
            (pool.max_concurrency, pool.limit_reason)
        }
    };
    assert_eq!(limit(&h).await.0, 2, "an auto pool starts at min");
    // Healthy and busy for five minutes of samples: it grows, one slot at a time.
    let mut seen = vec![2];
    for _ in 0..300 {
        h.host.send(room(64 * GIB, 10_000)).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (now, _) = limit(&h).await;
        if seen.last() != Some(&now) {
            seen.push(now);
        }
    }
    assert!(seen.len() >= 4, "grew: {seen:?}");
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "additive increase: {seen:?}");
    let grown = *seen.last().unwrap();
    launches(&h, grown as usize).await;
    // Memory pressure: it shrinks multiplicatively, with the reason shown.
    let mut pressured = room(64 * GIB, 10_000);
    pressured.psi_memory_some = Some(40.0);
    for _ in 0..15 {
        h.host.send(pressured).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (shrunk, reason) = limit(&h).await;
    assert!(shrunk < grown && shrunk >= 2, "{grown} → {shrunk}");
    assert!(reason.unwrap().contains("memory pressure"));
}

#[tokio::test(start_paused = true)]
async fn a_run_that_ends_gives_its_room_back_at_once_and_teaches_its_request() {
    let h = start(
        r#"
[pool.p]
max_concurrency = 8

[job.small]
command = ["agent"]
pool = "p"
limits = { memory = "1GiB", pids = 100 }
"#,
    );
    h.host.send(room(GIB + GIB / 2, 10_000)).unwrap();
    for _ in 0..4 {
        h.handle.submit(job("small")).await.unwrap();
    }
    let first = launches(&h, 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.launcher.launches().len(), 1, "unknown yet: counted by its 1 GiB limit");
    // It ends having used 10 MiB and 2 tasks; no new host sample arrives.
    let mut exit = stockade_engine::Exit::without_box(
        stockade_proto::ExitCause::Exited { code: 0 },
        "ended by the test",
    );
    exit.evidence.memory_peak = Some(10 << 20);
    exit.evidence.pids_peak = Some(2);
    h.launcher.exit_with(first[0].run, exit);
    // Its hold came back at once, and the rest are counted by what it took.
    let all = launches(&h, 4).await;
    assert_eq!(all.len(), 4);
    let held = h.handle.queue().await.unwrap();
    assert_eq!(held.iter().find(|p| p.name == "p").unwrap().blocking_reason, None);
}
