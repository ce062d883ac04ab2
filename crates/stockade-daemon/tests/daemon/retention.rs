//! Retention through the real daemon. Workspaces: at start it removes the
//! workspaces (and exit records) of runs that ended longer ago than
//! `[daemon] workspace_retention`, keeps younger ones, and keeps the
//! workspace of a box that is still running however old its files look.
//! Logs and post-mortems: `[logs]` decides at start, a reload's new values
//! apply at once, and what went is a daemon event.

use serde_json::json;
use std::path::Path;
use std::time::{Duration, SystemTime};
use stockade_testkit::{TestDaemon, wait_until};

const DAY: Duration = Duration::from_secs(86_400);

fn back_date(path: &Path, age: Duration) {
    std::fs::File::options()
        .read(true)
        .write(!path.is_dir())
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - age))
        .unwrap();
}

/// A workspace with a file and its exit record, both `age` old.
fn ended_run(workspaces: &Path, name: &str, age: Duration) {
    let ws = workspaces.join(name);
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("result.txt"), "post-mortem material").unwrap();
    back_date(&ws, age);
    let record = workspaces.join(format!("{name}.exit"));
    std::fs::write(&record, "exited 0\n").unwrap();
    back_date(&record, age);
}

const SPEC: &str = r#"
[job.task]
command = ["true"]
"#;

/// A process in a box of the daemon's (future) cgroup parent, as a box a
/// daemon left running looks: killed and its cgroup removed on drop.
struct LiveBox {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl LiveBox {
    fn start(parent: &str, name: &str) -> LiveBox {
        let dir = stockade_sandbox::own_cgroup_dir("pids").unwrap().join(parent).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        std::fs::write(dir.join("cgroup.procs"), child.id().to_string()).unwrap();
        LiveBox { child, dir }
    }
}

impl Drop for LiveBox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir(&self.dir);
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

#[tokio::test]
async fn old_workspaces_go_at_start_young_and_live_ones_stay() {
    if !stockade_testkit::can_make_boxes() {
        eprintln!("skipped: needs root and a writable cgroup tree");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let workspaces = dir.path().join("state/workspaces");
    ended_run(&workspaces, "task.j1.1700000000-1", 3 * DAY);
    ended_run(&workspaces, "task.j2.1700000000-2", DAY);
    // A box still running (its record is empty: the agent has not exited),
    // with files far older than the retention.
    let live = "task.j3.1700000000-3";
    std::fs::create_dir_all(workspaces.join(live)).unwrap();
    back_date(&workspaces.join(live), 30 * DAY);
    std::fs::write(workspaces.join(format!("{live}.exit")), "").unwrap();
    back_date(&workspaces.join(format!("{live}.exit")), 30 * DAY);
    // TestDaemon names its first parent `stockade-test-<name>-<pid>-0`.
    let running =
        LiveBox::start(&format!("stockade-test-retention-{}-0", std::process::id()), live);

    let keys = "workspace_retention = \"2d\"";
    let d = TestDaemon::start_with("retention", keys, SPEC, dir).await;
    wait_until("the old workspace and record removed", Duration::from_secs(10), || async {
        (!workspaces.join("task.j1.1700000000-1").exists()
            && !workspaces.join("task.j1.1700000000-1.exit").exists())
        .then_some(())
    })
    .await;
    assert!(workspaces.join("task.j2.1700000000-2/result.txt").exists(), "younger than 2d: kept");
    assert!(workspaces.join("task.j2.1700000000-2.exit").exists());
    assert!(workspaces.join(live).exists(), "a live box's workspace is never removed");
    let ok = d.api.post("/api/jobs", &json!({"template": "task"})).await;
    assert_eq!(ok.status, 201, "the daemon serves while it sweeps");
    let (report, dir) = d.stop_keep().await;
    report.unwrap();

    // Once nothing runs in it, the next start removes it.
    drop(running);
    let d = TestDaemon::start_with("retention", keys, SPEC, dir).await;
    wait_until("the dead box's workspace and record removed", Duration::from_secs(10), || async {
        (!workspaces.join(live).exists() && !workspaces.join(format!("{live}.exit")).exists())
            .then_some(())
    })
    .await;
    assert!(workspaces.join("task.j2.1700000000-2").exists());
    d.stop().await.unwrap();
}

/// A failed job whose one run ended `ended_ms` ago with a post-mortem.
async fn ended_job(
    store: &stockade_store::Store,
    ended_ms: u64,
) -> (stockade_proto::JobId, stockade_proto::RunId) {
    use stockade_proto::{Evidence, ExitCause, JobState, UnitKind, now_millis};
    let new = stockade_store::NewJob {
        template: "task".into(),
        pool: "default".into(),
        args: vec![],
        env: Default::default(),
        priority: 0,
        max_attempts: 1,
        submitted_at: now_millis() - ended_ms - 1000,
        idempotency_key: None,
        source: stockade_proto::JobSource::Api,
    };
    let job = store.submit_job(new).await.unwrap().0.id;
    store.transition_job(job, (JobState::Queued, 0), JobState::Running, None).await.unwrap();
    let run = stockade_store::NewRun {
        unit: "task".into(),
        kind: UnitKind::Job,
        job: Some(job),
        replica: 0,
        attempt: 1,
        pid: None,
        box_name: format!("task.j{}.1-1", job.0),
        started_at: now_millis() - ended_ms - 500,
        limits: Default::default(),
    };
    let run = store.start_run(run).await.unwrap();
    let cause = ExitCause::Exited { code: 1 };
    store
        .end_run(run, (cause.clone(), Evidence::default()), now_millis() - ended_ms)
        .await
        .unwrap();
    store.transition_job(job, (JobState::Running, 1), JobState::Failed, None).await.unwrap();
    let postmortem = stockade_proto::PostMortem {
        run,
        unit: "task".into(),
        summary: "exited 1".into(),
        cause,
        evidence: Evidence::default(),
        limits: Default::default(),
        restart_count: 0,
        started_at: 0,
        ended_at: 0,
        logs: Default::default(),
        probes: vec![],
        host: Default::default(),
    };
    store.store_postmortem(postmortem).await.unwrap();
    (job, run)
}

fn logs_spec(max_age: &str) -> String {
    format!("[logs]\nmax_age = \"{max_age}\"\n{SPEC}")
}

#[tokio::test]
async fn logs_and_post_mortems_go_by_age_and_a_reload_applies_new_values_live() {
    if !stockade_testkit::can_make_boxes() {
        eprintln!("skipped: needs root and a writable cgroup tree");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let db = state.join("stockade.db");
    std::fs::create_dir_all(&state).unwrap();
    let store = stockade_store::Store::open(&db, Default::default()).unwrap();
    let day = DAY.as_millis() as u64;
    let (old_job, old_run) = ended_job(&store, 40 * day).await;
    let (young_job, young_run) = ended_job(&store, day).await;
    tokio::task::spawn_blocking(move || drop(store)).await.unwrap();
    // The old job's log was last written ten days ago (a later adopter
    // wrote to it): too young for 30d, old enough for 5d.
    let old_log = state.join(format!("logs/jobs/{}.log", old_job.0));
    let young_log = state.join(format!("logs/jobs/{}.log", young_job.0));
    for (path, age) in [(&old_log, 10 * DAY), (&young_log, DAY)] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "output\n").unwrap();
        back_date(path, age);
    }

    let d = TestDaemon::start_with("logs-retention", "", &logs_spec("30d"), dir).await;
    let reader = stockade_store::Store::open_read_only(&db).unwrap();
    wait_until("the 40-day-old post-mortem deleted at start", Duration::from_secs(10), || async {
        reader.postmortem(old_run).unwrap().is_none().then_some(())
    })
    .await;
    let young = reader.postmortem(young_run).unwrap().expect("a day old: kept");
    // The two bodies differ only in their run ids, of the same length.
    let body = serde_json::to_string(&young).unwrap().len() as u64;
    assert!(reader.job(old_job).unwrap().is_some(), "the job row stays");
    assert!(old_log.exists(), "its run's files are ten days old, max_age is 30d");

    // A reload with a shorter max_age sweeps at once, without a restart.
    std::fs::write(
        d.spec_path(),
        format!("[daemon]\nstate_dir = \"state\"\n\n{}", logs_spec("5d")),
    )
    .unwrap();
    let plan = d.api.post("/api/daemon/reload", &json!({})).await;
    assert_eq!(plan.status, 200, "{}", plan.json);
    assert_eq!(plan.json["settings"], json!([{"key": "logs.max_age", "live": true}]));
    wait_until("the ten-day-old log deleted after the reload", Duration::from_secs(10), || async {
        (!old_log.exists()).then_some(())
    })
    .await;
    assert!(young_log.exists(), "a day old: kept");

    let (report, dir) = d.stop_keep().await;
    report.unwrap();
    let events = reader.events_since(stockade_proto::Seq(0), 10_000).unwrap();
    let said: Vec<String> = events
        .into_iter()
        .filter_map(|e| match e.kind {
            stockade_proto::EventKind::Daemon { message } if message.starts_with("retention") => {
                Some(message)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        said,
        [
            format!("retention removed 1 post-mortem ({body} B)"),
            "retention removed 1 log file (7 B: 1 past max_age)".to_string(),
        ]
    );
    drop(reader);
    tokio::task::spawn_blocking(move || drop(dir)).await.unwrap();
}
