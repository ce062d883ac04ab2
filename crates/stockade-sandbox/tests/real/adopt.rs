//! Adoption: a box left by a daemon that "died" (its `Agent` forgotten, as a
//! SIGKILLed daemon never drops it) is taken over by `Sandbox::adopt` —
//! live, ended during the outage, or killed from outside — and a stranger's
//! pid, a reboot or a vanished box are refused without killing anything.

use std::fs::OpenOptions;
use std::sync::Arc;
use std::time::Duration;

use stockade_proto::{ExitCause, Limits, now_millis};
use stockade_sandbox::{AdoptError, AdoptSpec, Agent, EndReason, Identity, Output, SpawnSpec};

use crate::support::{MIB, TestTree, is_gone, wait_until};

fn limits() -> Limits {
    Limits { pids: Some(64), memory: Some(256 * MIB), ..Limits::default() }
}

/// A walled box running `script`, its output going to `<dir>/<name>.log`.
async fn start(tree: &TestTree, name: &str, script: &str) -> (u32, u64, std::path::PathBuf) {
    let mut spec: SpawnSpec = tree.spec(true, name, &["sh", "-c", script], limits());
    let log = tree.dir.path().join(format!("{name}.log"));
    let file = OpenOptions::new().create(true).append(true).open(&log).unwrap();
    spec.output = Some(Output(Arc::new(file.into())));
    let started = now_millis();
    let agent = tree.sandbox.spawn(spec).await.expect("walled spawn");
    let pid = agent.pid();
    // The daemon dies: nothing of the agent is dropped, nothing is killed.
    std::mem::forget(agent);
    (pid, started, log)
}

fn adopt_spec(tree: &TestTree, name: &str, pid: u32, started: u64) -> AdoptSpec {
    let ws = tree.dir.path().join(name).join("ws");
    let mut record = ws.into_os_string();
    record.push(".exit");
    AdoptSpec {
        box_name: name.to_string(),
        identity: Identity { pid, started_at_ms: started },
        exit_record: Some(record.into()),
        limits: limits(),
        running_for: Duration::from_millis(now_millis().saturating_sub(started)),
    }
}

/// The forgotten init is this test's child: once it has exited, reap it
/// (a real daemon's successor never has to; the host's init does).
fn reap(pid: u32) {
    // SAFETY: waitpid(2) on a pid this process forked, without blocking.
    unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), libc::WNOHANG) };
}

async fn end(mut agent: Agent, pid: u32) -> ExitCause {
    // An init killed from outside left no record: `wait` says the status
    // is unknown, and `finish` turns that into `interrupted`.
    let status = agent.wait().await;
    reap(pid);
    agent.finish(status, EndReason::Exited).await.cause
}

#[tokio::test]
async fn a_live_box_is_adopted_and_its_exact_status_recorded() {
    let Some(tree) = TestTree::new("adoptlive") else { return };
    let (pid, started, log) = start(
        &tree,
        "live.0",
        "i=0; while [ $i -lt 20 ]; do echo tick $i; i=$((i+1)); sleep 0.02; done; exit 7",
    )
    .await;
    let agent = tree.sandbox.adopt(adopt_spec(&tree, "live.0", pid, started)).expect("adopt");
    assert_eq!(agent.pid(), pid, "the adopted agent is the same process");
    assert_eq!(end(agent, pid).await, ExitCause::Exited { code: 7 });
    let text = std::fs::read_to_string(log).unwrap();
    // Tagged records from the box's init, after its run-start marker.
    let records: Vec<_> =
        text.lines().map(|l| stockade_proto::LogRecord::parse(l.as_bytes())).collect();
    assert!(records[0].start, "{text:?}");
    let ticks: Vec<String> = records[1..]
        .iter()
        .map(|r| {
            assert!(r.ts_ns.is_some() && r.stream == stockade_proto::LogStream::Stdout, "{text:?}");
            String::from_utf8_lossy(r.text).into_owned()
        })
        .collect();
    assert_eq!(ticks.len(), 20, "every line reached the log: {text:?}");
    assert_eq!(ticks[19], "tick 19");
}

#[tokio::test]
async fn an_exit_during_the_outage_is_read_from_the_exit_record() {
    let Some(tree) = TestTree::new("adoptended") else { return };
    let (pid, started, _) = start(&tree, "ended.0", "exit 3").await;
    assert!(wait_until(Duration::from_secs(10), || is_gone(pid)).await, "the box's init exits");
    reap(pid);
    let agent = tree.sandbox.adopt(adopt_spec(&tree, "ended.0", pid, started)).expect("adopt");
    let status = agent.status_if_ended();
    assert_eq!(status.and_then(|s| s.code()), Some(3), "the record's status");
    assert_eq!(end(agent, pid).await, ExitCause::Exited { code: 3 });
}

#[tokio::test]
async fn an_init_killed_from_outside_is_interrupted() {
    let Some(tree) = TestTree::new("adoptkilled") else { return };
    let (pid, started, _) = start(&tree, "killed.0", "sleep 30").await;
    let agent = tree.sandbox.adopt(adopt_spec(&tree, "killed.0", pid, started)).expect("adopt");
    // SAFETY: kill(2) of the box's init, which this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert_eq!(end(agent, pid).await, ExitCause::Interrupted);
    // Killed while no daemon watched: no record, nothing to adopt.
    let (pid, started, _) = start(&tree, "killed.1", "sleep 30").await;
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert!(wait_until(Duration::from_secs(10), || is_gone(pid)).await);
    reap(pid);
    let err = tree.sandbox.adopt(adopt_spec(&tree, "killed.1", pid, started)).unwrap_err();
    assert!(matches!(err, AdoptError::NoRecord { .. }), "{err}");
    tree.sandbox.remove_stale("killed.1").unwrap();
}

#[tokio::test]
async fn a_stranger_a_reboot_and_a_vanished_box_are_refused() {
    let Some(tree) = TestTree::new("adoptrefuse") else { return };
    let (pid, started, _) = start(&tree, "real.0", "sleep 30").await;
    // A stranger: this test's own pid, alive but not in the box.
    let me = std::process::id();
    let err = tree.sandbox.adopt(adopt_spec(&tree, "real.0", me, started)).unwrap_err();
    assert!(matches!(err, AdoptError::NoRecord { stranger: true, .. }), "{err}");
    // A run that started before this boot.
    let err = tree.sandbox.adopt(adopt_spec(&tree, "real.0", pid, 1_000)).unwrap_err();
    assert!(matches!(err, AdoptError::Rebooted { .. }), "{err}");
    // The box was never made.
    let err = tree.sandbox.adopt(adopt_spec(&tree, "none.0", pid, started)).unwrap_err();
    assert!(matches!(err, AdoptError::Vanished { .. }), "{err}");
    // None of that touched the real box.
    assert!(!is_gone(pid));
    let agent = tree.sandbox.adopt(adopt_spec(&tree, "real.0", pid, started)).expect("adopt");
    let mut agent = agent;
    let outcome = agent.stop(libc::SIGTERM, Duration::from_secs(5)).await;
    reap(pid);
    let death = agent.finish(outcome.status, EndReason::Stopped).await;
    assert_eq!(death.cause, ExitCause::Stopped);
}

#[tokio::test]
async fn a_box_removed_before_its_end_was_recorded_keeps_its_exact_status() {
    let Some(tree) = TestTree::new("adoptgone") else { return };
    let (pid, started, _) = start(&tree, "gone.0", "exit 5").await;
    assert!(wait_until(Duration::from_secs(10), || is_gone(pid)).await, "the box's init exits");
    reap(pid);
    // The earlier daemon saw the end and removed the box, then died before
    // the end reached its store: only the exit record is left.
    tree.sandbox.remove_stale("gone.0").unwrap();
    let agent = tree.sandbox.adopt(adopt_spec(&tree, "gone.0", pid, started)).expect("adopt");
    assert_eq!(agent.status_if_ended().and_then(|s| s.code()), Some(5), "the record's status");
    assert_eq!(end(agent, pid).await, ExitCause::Exited { code: 5 });
}
