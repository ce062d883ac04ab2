//! What `stockade scale NAME N` and `stockade stop NAME[N]` leave behind
//! outlives the daemon (issue 14), with the real binary and real boxes: a
//! scaled service comes back at its scaled count and a stopped replica
//! stays stopped, after a clean stop (SIGTERM) and after a SIGKILL of the
//! daemon (the agents are adopted, the stopped replica is not started); a
//! reload that changes the spec's `replicas` forgets the scale but keeps
//! the stopped replica below the new count; `start NAME` frees it.

use crate::support::{BoxSweeper, Daemon, Leftovers, Proc, TestEnv, skip_reason, text, wait_until};
use serde_json::Value;
use std::time::Duration;

/// The spec: one service of `replicas` sleepers.
fn spec(template: &str, replicas: u32) -> String {
    format!(
        "[service.{template}-w]\ncommand = [\"sleep\", \"600\"]\nreplicas = {replicas}\nstop = {{ grace = \"2s\" }}\n"
    )
}

fn ok(daemon: &Daemon, args: &[&str]) -> String {
    let out = daemon.run(args);
    assert!(
        out.status.success(),
        "stockade {args:?}: exit {:?}: {}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `ps --json`: each replica of the service as (state, pid, reason), and
/// the scaled counts.
fn replicas(daemon: &Daemon, service: &str) -> (Vec<(String, u64, String)>, Value) {
    let ps: Value = serde_json::from_str(&ok(daemon, &["ps", "--json"])).expect("JSON");
    let rows = ps["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["service"] == service)
        .map(|r| {
            (
                r["state"].as_str().unwrap_or_default().to_owned(),
                r["pid"].as_u64().unwrap_or(0),
                r["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (rows, ps["scaled"].clone())
}

/// Wait until the replicas' states are `want`; their pids.
fn wait_states(daemon: &Daemon, service: &str, want: &[&str]) -> Vec<u64> {
    wait_until(Duration::from_secs(60), &format!("{service} to be {want:?}"), || {
        let (rows, _) = replicas(daemon, service);
        let states: Vec<&str> = rows.iter().map(|(s, _, _)| s.as_str()).collect();
        (states == want).then(|| rows.iter().map(|r| r.1).collect()).ok_or(format!("{rows:?}"))
    })
}

#[test]
fn a_scale_and_a_stopped_replica_outlive_a_clean_stop_and_a_kill_9() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let env = TestEnv::with_units("kept", |t| spec(t, 2));
    let w = format!("{}-w", env.template);
    let w2 = format!("{w}[2]");
    let _boxes = BoxSweeper { prefix: format!("{w}.") };
    let mut daemon = Daemon::on(&env, "daemon");
    daemon.wait_live(Duration::from_secs(20));
    wait_states(&daemon, &w, &["running"; 2]);

    ok(&daemon, &["scale", &w, "4", "--wait"]);
    ok(&daemon, &["stop", &w2, "--wait"]);
    let kept = ["running", "running", "stopped", "running"];
    wait_states(&daemon, &w, &kept);
    let ps = ok(&daemon, &["ps"]);
    assert!(ps.contains(&format!("{w} replicas: 4 (scaled; spec 2)")), "{ps}");
    let status = ok(&daemon, &["status"]);
    assert!(status.contains(&format!("{w} 4 (scaled; spec 2)")), "{status}");

    // A clean stop, and a new daemon: the scaled count and the stopped
    // replica are as they were.
    assert_eq!(daemon.terminate(Duration::from_secs(30)).code(), Some(0), "{}", daemon.log());
    daemon.restart();
    let pids = wait_states(&daemon, &w, &kept);
    let (rows, scaled) = replicas(&daemon, &w);
    assert_eq!(pids[2], 0, "the stopped replica has no process: {rows:?}");
    assert!(rows[2].2.contains(&format!("`stockade start {w2}` brings it back")), "{rows:?}");
    assert_eq!(scaled[0]["replicas"], 4, "{scaled}");
    assert_eq!(scaled[0]["spec_replicas"], 2, "{scaled}");

    // SIGKILL: the next daemon adopts the three running agents (same
    // pids) and still does not start the stopped one.
    let procs: Vec<Proc> =
        [0, 1, 3].iter().map(|&i| Proc::find(pids[i] as u32).expect("a replica process")).collect();
    let _left = Leftovers(procs.clone());
    assert_eq!(daemon.kill_9().code(), None, "the daemon dies by SIGKILL");
    daemon.restart();
    let adopted = wait_states(&daemon, &w, &kept);
    assert_eq!([adopted[0], adopted[1], adopted[3]], [pids[0], pids[1], pids[3]], "adopted");
    assert!(procs.iter().all(Proc::alive), "the agents outlived their daemon");
    let log = daemon.log();
    assert!(log.contains("adopted a box"), "{log}");
    // A moment later it is still down (a start would show in its log).
    std::thread::sleep(Duration::from_secs(1));
    let (rows, _) = replicas(&daemon, &w);
    assert_eq!((rows[2].0.as_str(), rows[2].1), ("stopped", 0), "{rows:?}");
    let replica_log = env.state().join(format!("logs/{w}.2.log"));
    let starts_before = std::fs::read_to_string(&replica_log).unwrap_or_default().lines().count();

    // The spec's `replicas` changes on reload: the scale is forgotten (3
    // replicas now), the stopped replica (index 2 < 3) stays stopped.
    std::fs::write(
        &env.spec,
        std::fs::read_to_string(&env.spec).unwrap().replace("replicas = 2", "replicas = 3"),
    )
    .unwrap();
    ok(&daemon, &["reload"]);
    wait_states(&daemon, &w, &["running", "running", "stopped"]);
    let (_, scaled) = replicas(&daemon, &w);
    assert!(scaled.as_array().is_none_or(Vec::is_empty), "the scale is forgotten: {scaled}");
    assert!(!ok(&daemon, &["ps"]).contains("scaled"), "no scale shown");
    let lines = std::fs::read_to_string(&replica_log).unwrap_or_default().lines().count();
    assert_eq!(lines, starts_before, "the stopped replica never ran again");

    // `start NAME` frees it, and a new daemon starts every replica.
    ok(&daemon, &["start", &w, "--wait"]);
    wait_states(&daemon, &w, &["running"; 3]);
    assert_eq!(daemon.terminate(Duration::from_secs(30)).code(), Some(0), "{}", daemon.log());
    daemon.restart();
    wait_states(&daemon, &w, &["running"; 3]);
    assert_eq!(daemon.terminate(Duration::from_secs(30)).code(), Some(0), "{}", daemon.log());
}
