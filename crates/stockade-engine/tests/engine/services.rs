use crate::helpers::*;
use std::time::Duration;
use stockade_engine::{ServiceAction, StopReason};
use stockade_proto::{EventKind, ExitCause, ServiceState};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_crash_loop_backs_off_exponentially_then_gives_up_until_restarted() {
    let mut h = start(
        r#"
[service.crashy]
command = ["false"]
restart = "always"
backoff = { initial = "1s", max = "8s", factor = 2.0, jitter = 0.0 }
start_limit = { burst = 4, interval = "60s" }
"#,
    );
    let mut exited_at = Vec::new();
    let mut launched_at = Vec::new();
    for i in 0..4 {
        let all = launches(&h, i + 1).await;
        launched_at.push(Instant::now());
        h.launcher.exit(all[i].run, ExitCause::Exited { code: 1 });
        exited_at.push(Instant::now());
    }
    // Gaps between a crash and the next start: 1 s, 2 s, 4 s (no jitter).
    for (n, expected) in [1u64, 2, 4].into_iter().enumerate() {
        let gap = launched_at[n + 1].duration_since(exited_at[n]);
        let expected = Duration::from_secs(expected);
        assert!(gap >= expected && gap < expected + Duration::from_millis(500), "gap {n}: {gap:?}");
    }
    let gave_up = event(&mut h, "gave_up", |e| {
        matches!(&e.kind, EventKind::ServiceState { state: ServiceState::GaveUp, .. })
    })
    .await;
    let EventKind::ServiceState { reason, .. } = gave_up.kind else { unreachable!() };
    assert!(reason.unwrap().contains("start limit reached"));
    // Nothing more starts on its own.
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(h.launcher.launches().len(), 4);
    let status = h.handle.status().await.unwrap();
    assert_eq!(status.services[0].state, ServiceState::GaveUp);
    assert_eq!(status.services[0].last_cause, Some(ExitCause::Exited { code: 1 }));
    // `stockade restart` clears gave_up and starts again.
    h.handle.service("crashy", ServiceAction::Restart).await.unwrap();
    launches(&h, 5).await;
}

#[tokio::test(start_paused = true)]
async fn on_failure_does_not_restart_a_clean_exit_but_restarts_a_failure() {
    let h = start(
        r#"
[service.once]
command = ["true"]
restart = "on-failure"
backoff = { initial = "1s", jitter = 0.0 }
"#,
    );
    let first = launches(&h, 1).await;
    h.launcher.exit(first[0].run, ExitCause::Exited { code: 3 });
    let second = launches(&h, 2).await;
    h.launcher.exit(second[1].run, ExitCause::Exited { code: 0 });
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(h.launcher.launches().len(), 2);
    let status = h.handle.status().await.unwrap();
    assert_eq!(status.services[0].state, ServiceState::Stopped);
    assert_eq!(status.services[0].restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_dependency_that_completes_successfully_releases_its_dependent() {
    let h = start(
        r#"
[service.migrate]
command = ["migrate"]
restart = "never"

[service.app]
command = ["app"]
depends_on = { migrate = "completed_successfully" }
"#,
    );
    let first = launches(&h, 1).await;
    assert_eq!(first[0].unit, "migrate");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.launcher.launches().len(), 1, "app must wait for migrate to complete");
    h.launcher.exit(first[0].run, ExitCause::Exited { code: 0 });
    let all = launches(&h, 2).await;
    assert_eq!(all[1].unit, "app");
}

#[tokio::test(start_paused = true)]
async fn a_failed_dependency_blocks_its_dependent_with_the_reason() {
    let mut h = start(
        r#"
[service.migrate]
command = ["migrate"]
restart = "never"

[service.app]
command = ["app"]
depends_on = { migrate = "completed_successfully" }
"#,
    );
    let first = launches(&h, 1).await;
    h.launcher.exit(first[0].run, ExitCause::Exited { code: 2 });
    let blocked = event(&mut h, "app blocked", |e| {
        e.unit == "app"
            && matches!(&e.kind, EventKind::ServiceState { state: ServiceState::Blocked, .. })
    })
    .await;
    let EventKind::ServiceState { reason, .. } = blocked.kind else { unreachable!() };
    assert_eq!(reason.as_deref(), Some("dependency `migrate` failed (exited 2)"));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(h.launcher.launches().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dependency_that_gives_up_blocks_dependents_instead_of_hanging() {
    let h = start(
        r#"
[service.db]
command = ["db"]
restart = "always"
backoff = { initial = "100ms", jitter = 0.0 }
start_limit = { burst = 2, interval = "60s" }

[service.app]
command = ["app"]
depends_on = { db = "completed" }
"#,
    );
    for i in 0..2 {
        let all = launches(&h, i + 1).await;
        assert_eq!(all[i].unit, "db");
        h.launcher.exit(all[i].run, ExitCause::Signaled { signal: 11, core_dumped: true });
    }
    let handle = h.handle.clone();
    let app = wait_for("app blocked", Duration::from_secs(60), || {
        let handle = handle.clone();
        async move {
            let status = handle.status().await.ok()?;
            status
                .services
                .into_iter()
                .find(|r| r.service == "app" && r.state == ServiceState::Blocked)
        }
    })
    .await;
    assert!(app.reason.unwrap().starts_with("dependency `db` gave up"));
    // `stockade start db` resets it, and the dependent is released from blocked.
    h.handle.service("db", ServiceAction::Start).await.unwrap();
    let all = launches(&h, 3).await;
    assert_eq!(all[2].unit, "db");
    let status = h.handle.status().await.unwrap();
    let app = status.services.iter().find(|r| r.service == "app").unwrap();
    assert_eq!(app.state, ServiceState::Pending);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_services_in_reverse_dependency_order() {
    let h = start(
        r#"
[service.a]
command = ["a"]

[service.b]
command = ["b"]
depends_on = { a = "started" }
stop = { signal = "SIGINT", grace = "3s" }

[service.c]
command = ["c"]
replicas = 2
depends_on = { b = "started" }
"#,
    );
    h.launcher.hold_stops();
    let all = launches(&h, 4).await;
    let units: Vec<&str> = all.iter().map(|l| l.unit.as_str()).collect();
    assert_eq!(units, ["a", "b", "c", "c"]);
    let handle = h.handle.clone();
    let shutdown = tokio::spawn(async move { handle.shutdown().await });
    let stops_of = |n: usize| {
        let launcher = h.launcher.clone();
        wait_for("stops", Duration::from_secs(60), move || {
            let stops = launcher.stops();
            async move { (stops.len() >= n).then_some(stops) }
        })
    };
    let stops = stops_of(2).await;
    let c_runs = [all[2].run, all[3].run];
    assert!(stops.iter().all(|(run, req)| c_runs.contains(run) && req.reason == StopReason::Asked));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(h.launcher.stops().len(), 2, "b must wait until both c replicas are gone");
    h.launcher.exit(all[2].run, ExitCause::Stopped);
    h.launcher.exit(all[3].run, ExitCause::Stopped);
    let stops = stops_of(3).await;
    assert_eq!(stops[2].0, all[1].run);
    assert_eq!(stops[2].1.signal, 2, "b's own stop signal");
    assert_eq!(stops[2].1.grace, Duration::from_secs(3));
    h.launcher.exit(all[1].run, ExitCause::Stopped);
    let stops = stops_of(4).await;
    assert_eq!(stops[3].0, all[0].run);
    h.launcher.exit(all[0].run, ExitCause::Stopped);
    let report = shutdown.await.unwrap().unwrap();
    assert_eq!((report.clean, report.killed), (4, 0));
    h.task.await.unwrap();
}

// Real time, by necessity: exec probes run real processes (`true`, `false`)
// whose exits arrive in real time; on a paused clock the runtime would jump
// to each probe's timeout while the process is still starting.
#[tokio::test]
async fn readiness_gates_dependents_and_liveness_failures_restart_with_a_postmortem() {
    let h = start(
        r#"
[service.api]
command = ["api"]
readiness = { exec = ["true"], period = "20ms" }

[service.worker]
command = ["worker"]
depends_on = { api = "ready" }
restart = "on-failure"
backoff = { initial = "10ms", jitter = 0.0 }
liveness = { exec = ["false"], period = "20ms", failure_threshold = 2 }
"#,
    );
    let all = launches(&h, 2).await;
    assert_eq!(all[1].unit, "worker", "worker starts only once api is ready");
    let status = h.handle.status().await.unwrap();
    assert_eq!(status.services[0].state, ServiceState::Ready);
    // The worker's liveness probe always fails: it is stopped and restarted.
    let all = launches(&h, 3).await;
    assert_eq!(all[2].unit, "worker");
    let stops = h.launcher.stops();
    assert_eq!(stops[0].0, all[1].run);
    assert_eq!(stops[0].1.reason, StopReason::Liveness);
    let store = h.store.clone();
    let run = all[1].run;
    let pm = wait_for("post-mortem", Duration::from_secs(10), || {
        let store = store.clone();
        async move { store.postmortem(run).ok().flatten() }
    })
    .await;
    assert_eq!(pm.cause, ExitCause::LivenessFailed);
    assert!(
        pm.probes.iter().filter(|p| p.probe == "liveness" && !p.ok).count() >= 2,
        "{:?}",
        pm.probes
    );
    assert!(pm.summary.contains("liveness"), "{}", pm.summary);
}

#[tokio::test(start_paused = true)]
async fn a_scale_up_takes_back_replicas_a_scale_down_is_still_stopping() {
    let h = start("[service.w]\ncommand = [\"w\"]\nrestart = \"always\"\nreplicas = 3\n");
    let first = launches(&h, 3).await;
    h.launcher.hold_stops();
    h.handle.scale("w", 1).await.unwrap();
    let launcher = h.launcher.clone();
    wait_for("w[1] and w[2] asked to stop", Duration::from_secs(30), || {
        let stops = launcher.stops();
        async move { (stops.len() == 2).then_some(()) }
    })
    .await;
    // Wanted again before their boxes are empty: they start again once they are.
    h.handle.scale("w", 3).await.unwrap();
    for run in [first[1].run, first[2].run] {
        h.launcher.exit(run, ExitCause::Stopped);
    }
    let all = launches(&h, 5).await;
    let mut again: Vec<u32> =
        all[3..].iter().map(|l| l.box_name.split('.').nth(1).unwrap().parse().unwrap()).collect();
    again.sort();
    assert_eq!(again, [1, 2], "{all:?}");
    let status = h.handle.status().await.unwrap();
    assert!(status.scaled.is_empty(), "back at the spec's count: {:?}", status.scaled);
}
