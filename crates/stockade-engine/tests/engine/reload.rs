//! Reload through the engine loop with the recording launcher: what each
//! kind of plan does to live runs — limits written live, only the changed
//! service restarted, added ones started, removed ones stopped dependents
//! first, templates and pools applied, a stranding reload refused; a
//! restart keeps a `scale` and a stopped replica until `replicas` changes.

use crate::helpers::*;
use std::sync::Arc;
use std::time::Duration;
use stockade_engine::EngineError;
use stockade_proto::{EventKind, JobRequest, PlanAction, PlanUnit, ServiceState};

const THREE: &str = r#"
[service.db]
command = ["db"]
restart = "always"
limits = { memory = "64MiB", pids = 32 }

[service.api]
command = ["api"]
restart = "always"
depends_on = { db = "started" }

[service.web]
command = ["web"]
restart = "always"
depends_on = { api = "started" }
"#;

async fn reload(h: &Harness, toml: &str, dry_run: bool) -> stockade_proto::ReloadPlan {
    let new = Arc::new(spec(h.dir.path(), toml));
    h.handle.reload(new, dry_run).await.unwrap()
}

async fn state_of(h: &Harness, service: &str) -> Option<ServiceState> {
    let status = h.handle.status().await.unwrap();
    status.services.iter().find(|r| r.service == service).map(|r| r.state)
}

async fn up(h: &Harness, service: &str) {
    let handle = h.handle.clone();
    let service = service.to_string();
    wait_for(&format!("{service} running"), Duration::from_secs(30), || {
        let (handle, service) = (handle.clone(), service.clone());
        async move {
            let status = handle.status().await.unwrap();
            status
                .services
                .iter()
                .any(|r| r.service == service && r.state == ServiceState::Running)
                .then_some(())
        }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn a_limit_change_is_written_to_the_live_box_and_nothing_restarts() {
    let mut h = start(THREE);
    let all = launches(&h, 3).await;
    for s in ["db", "api", "web"] {
        up(&h, s).await;
    }
    let plan = reload(&h, &THREE.replace("64MiB", "128MiB"), false).await;
    assert!(plan.applied);
    let db = plan.unit(PlanUnit::Service, "db").unwrap();
    assert_eq!(db.action, PlanAction::Update);
    assert_eq!(plan.count(PlanAction::Keep), 3, "api, web and the default pool: {plan:#?}");
    let changes = h.launcher.limit_changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, all[0].run);
    assert_eq!(changes[0].1.memory, Some(128 << 20));
    assert_eq!(changes[0].1.pids, Some(32));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(h.launcher.stops().is_empty(), "nothing stopped");
    assert_eq!(h.launcher.launches().len(), 3, "nothing launched");
    let reloaded =
        event(&mut h, "spec_reloaded", |e| matches!(&e.kind, EventKind::SpecReloaded { .. })).await;
    let EventKind::SpecReloaded { summary, units } = reloaded.kind else { unreachable!() };
    assert_eq!(summary, "0 added, 0 removed, 1 updated, 0 restarted, 3 unchanged");
    assert_eq!(units, ["update service db"]);
}

#[tokio::test(start_paused = true)]
async fn a_changed_command_restarts_only_that_service() {
    let h = start(THREE);
    let first = launches(&h, 3).await;
    for s in ["db", "api", "web"] {
        up(&h, s).await;
    }
    let new = THREE.replace(r#"["api"]"#, r#"["api", "--v2"]"#);
    let plan = reload(&h, &new, false).await;
    assert_eq!(plan.unit(PlanUnit::Service, "api").unwrap().action, PlanAction::Restart);
    let all = launches(&h, 4).await;
    let stops = h.launcher.stops();
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0].0, first[1].run, "only api's run is stopped");
    assert_eq!(all[3].unit, "api");
    assert_eq!(all[3].argv, ["api", "--v2"]);
    up(&h, "api").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.launcher.launches().len(), 4, "db and web were left alone");
    let live = h.launcher.live();
    for run in [first[0].run, first[2].run, all[3].run] {
        assert!(live.contains(&run), "{run} live in {live:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn added_services_start_and_removed_ones_stop_dependents_first() {
    let h = start(THREE);
    let first = launches(&h, 3).await;
    for s in ["db", "api", "web"] {
        up(&h, s).await;
    }
    h.launcher.hold_stops();
    let new = r#"
[service.db]
command = ["db"]
restart = "always"
limits = { memory = "64MiB", pids = 32 }

[service.cache]
command = ["cache"]
depends_on = { db = "started" }
"#;
    let plan = reload(&h, new, false).await;
    let actions: Vec<(&str, PlanAction)> = plan
        .units
        .iter()
        .filter(|u| u.kind == PlanUnit::Service)
        .map(|u| (u.name.as_str(), u.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("db", PlanAction::Keep),
            ("cache", PlanAction::Add),
            ("web", PlanAction::Remove),
            ("api", PlanAction::Remove)
        ]
    );
    let all = launches(&h, 4).await;
    assert_eq!(all[3].unit, "cache");
    // web first: api is stopped only once web's box is empty.
    let stops = h.launcher.stops();
    assert_eq!(stops.iter().map(|s| s.0).collect::<Vec<_>>(), [first[2].run]);
    h.launcher.exit(first[2].run, stockade_proto::ExitCause::Stopped);
    let launcher = h.launcher.clone();
    wait_for("api stopped after web", Duration::from_secs(30), || {
        let stops = launcher.stops();
        async move { (stops.len() == 2).then_some(()) }
    })
    .await;
    assert_eq!(h.launcher.stops()[1].0, first[1].run);
    h.launcher.exit(first[1].run, stockade_proto::ExitCause::Stopped);
    let handle = h.handle.clone();
    wait_for("removed services gone from status", Duration::from_secs(30), || {
        let handle = handle.clone();
        async move {
            let names: Vec<String> =
                handle.status().await.unwrap().services.into_iter().map(|r| r.service).collect();
            (names == ["db", "cache"]).then_some(())
        }
    })
    .await;
    assert_eq!(state_of(&h, "db").await, Some(ServiceState::Running));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_plans_and_changes_nothing() {
    let h = start(THREE);
    launches(&h, 3).await;
    let new = THREE.replace(r#"["web"]"#, r#"["web", "2"]"#).replace("64MiB", "1GiB");
    let plan = reload(&h, &new, true).await;
    assert!(!plan.applied);
    assert_eq!(plan.count(PlanAction::Restart), 1);
    assert_eq!(plan.count(PlanAction::Update), 1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(h.launcher.stops().is_empty());
    assert!(h.launcher.limit_changes().is_empty());
    assert_eq!(h.launcher.launches().len(), 3);
    // The same reload, applied, still finds the whole difference.
    let applied = reload(&h, &new, false).await;
    assert!(applied.applied);
    assert_eq!(applied.count(PlanAction::Restart), 1);
}

const JOBS: &str = r#"
[pool.p]
max_concurrency = 1

[job.t]
command = ["agent"]
pool = "p"
limits = { memory = "64MiB" }
"#;

#[tokio::test(start_paused = true)]
async fn templates_apply_to_new_runs_and_pool_limits_at_once() {
    let h = start(JOBS);
    for _ in 0..2 {
        h.handle.submit(JobRequest { template: "t".into(), ..Default::default() }).await.unwrap();
    }
    let first = launches(&h, 1).await;
    let new = JOBS
        .replace("max_concurrency = 1", "max_concurrency = 2")
        .replace(r#"["agent"]"#, r#"["agent", "--new"]"#)
        .replace("64MiB", "256MiB");
    let plan = reload(&h, &new, false).await;
    let t = plan.unit(PlanUnit::Job, "t").unwrap();
    assert_eq!(t.action, PlanAction::Update);
    let note = t.note.as_deref().unwrap();
    assert!(note.contains("1 queued included") && note.contains("1 running keep theirs"), "{note}");
    assert_eq!(plan.unit(PlanUnit::Pool, "p").unwrap().action, PlanAction::Update);
    // The pool's new limit admits the queued job now, with the new template.
    let all = launches(&h, 2).await;
    assert_eq!(all[0].argv, ["agent"], "the running job keeps its command");
    assert_eq!(all[1].argv, ["agent", "--new"]);
    assert_eq!(all[1].limits.memory, Some(256 << 20));
    // ...and the running job got the new memory limit written live.
    let changes = h.launcher.limit_changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, first[0].run);
    assert_eq!(changes[0].1.memory, Some(256 << 20));
}

#[tokio::test(start_paused = true)]
async fn removing_a_template_with_live_jobs_is_refused_and_changes_nothing() {
    let h = start(JOBS);
    h.handle.submit(JobRequest { template: "t".into(), ..Default::default() }).await.unwrap();
    launches(&h, 1).await;
    let new = Arc::new(spec(h.dir.path(), "[service.x]\ncommand = [\"x\"]\n"));
    let err = h.handle.reload(new, false).await.unwrap_err();
    assert!(matches!(err, EngineError::ReloadRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("job `t`"), "{err}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.launcher.launches().len(), 1, "service x did not start");
    let status = h.handle.status().await.unwrap();
    assert!(status.services.is_empty());
}

/// The replica states of `service`, in order, and the scaled counts.
async fn replicas_of(h: &Harness, service: &str) -> (Vec<ServiceState>, Vec<(u32, u32)>) {
    let status = h.handle.status().await.unwrap();
    let states = status.services.iter().filter(|r| r.service == service).map(|r| r.state).collect();
    let scaled = status.scaled.iter().map(|s| (s.replicas, s.spec_replicas)).collect();
    (states, scaled)
}

async fn until_replicas(h: &Harness, service: &str, want: &[ServiceState]) -> Vec<(u32, u32)> {
    let want = want.to_vec();
    wait_for(&format!("{service} {want:?}"), Duration::from_secs(30), || {
        let want = want.clone();
        async move {
            let (states, scaled) = replicas_of(h, service).await;
            (states == want).then_some(scaled)
        }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_a_scale_and_a_stopped_replica_until_replicas_changes() {
    use ServiceState::{Running, Stopped};
    let w = "[service.w]\ncommand = [\"w\"]\nrestart = \"always\"\nreplicas = 2\n";
    let h = start(w);
    launches(&h, 2).await;
    h.handle.scale("w", 3).await.unwrap();
    h.handle.service_replica("w", Some(1), stockade_engine::ServiceAction::Stop).await.unwrap();
    until_replicas(&h, "w", &[Running, Stopped, Running]).await;

    // A new command, the same `replicas`: fresh processes, the scale and the
    // stopped replica as they were.
    let plan = reload(&h, &w.replace("[\"w\"]", "[\"w2\"]"), false).await;
    assert_eq!(plan.unit(PlanUnit::Service, "w").unwrap().action, PlanAction::Restart);
    let all = launches(&h, 5).await;
    assert!(all[3..].iter().all(|l| l.argv == ["w2"]), "{all:?}");
    let scaled = until_replicas(&h, "w", &[Running, Stopped, Running]).await;
    assert_eq!(scaled, [(3, 2)]);
    let stored = h.store.scaled_services().unwrap();
    assert_eq!(stored.get("w").map(|s| (s.replicas, s.spec_replicas)), Some((3, 2)));
    assert_eq!(h.store.held_replicas().unwrap(), [("w".to_owned(), 1)]);

    // `replicas` itself changes: the spec wins, the scale and the stopped
    // replica past the new count are forgotten, here and in the store.
    reload(&h, &w.replace("replicas = 2", "replicas = 1"), false).await;
    let scaled = until_replicas(&h, "w", &[Running]).await;
    assert!(scaled.is_empty(), "{scaled:?}");
    let store = h.store.clone();
    wait_for("the store forgets", Duration::from_secs(30), || {
        let store = store.clone();
        async move {
            let forgotten = store.scaled_services().unwrap().is_empty()
                && store.held_replicas().unwrap().is_empty();
            forgotten.then_some(())
        }
    })
    .await;
}
