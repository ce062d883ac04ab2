//! Workspace retention through the real daemon: at start it removes the
//! workspaces (and exit records) of runs that ended longer ago than
//! `[daemon] workspace_retention`, keeps younger ones, and keeps the
//! workspace of a box that is still running however old its files look.

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
