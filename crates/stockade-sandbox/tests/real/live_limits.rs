//! `Agent::set_limits` (`stockade reload`): new cgroup limits reach a box
//! whose agent keeps running, and are enforced.

use std::time::Duration;

use stockade_proto::{ExitCause, Limits};
use stockade_sandbox::EndReason;

use crate::support::{MIB, TestTree, spec};

#[tokio::test]
async fn new_limits_reach_the_live_box_and_the_agent_keeps_running() {
    let Some(tree) = TestTree::new("live-limits") else { return };
    let limits = Limits { memory: Some(64 * MIB), pids: Some(32), ..Limits::default() };
    let mut agent = tree.sandbox.spawn(spec("live/0/1", &["sleep", "30"], limits)).await.unwrap();
    let pid = agent.pid();
    let read = |c: &str, f: &str| {
        std::fs::read_to_string(tree.box_dir(c, "live/0/1").join(f)).unwrap().trim().to_string()
    };
    assert_eq!(read("memory", "memory.limit_in_bytes"), (64 * MIB).to_string());

    let raised =
        Limits { memory: Some(128 * MIB), pids: Some(8), cpus: Some(0.25), ..Limits::default() };
    agent.set_limits(raised).unwrap();
    assert_eq!(read("memory", "memory.limit_in_bytes"), (128 * MIB).to_string());
    assert_eq!(read("pids", "pids.max"), "8");
    assert_eq!(read("cpu", "cpu.cfs_quota_us"), "25000");
    assert_eq!(agent.pid(), pid);
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the agent still runs");

    // Unset limits go back to unlimited.
    agent.set_limits(Limits { memory: Some(32 * MIB), ..Limits::default() }).unwrap();
    assert_eq!(read("memory", "memory.limit_in_bytes"), (32 * MIB).to_string());
    assert_eq!(read("pids", "pids.max"), "max");
    assert_eq!(read("cpu", "cpu.cfs_quota_us"), "-1");

    let stopped = agent.stop(libc::SIGTERM, Duration::from_secs(10)).await;
    let death = agent.finish(stopped.status, EndReason::Stopped).await;
    assert_eq!(death.cause, ExitCause::Stopped);
}

#[tokio::test]
async fn a_lowered_pids_limit_is_enforced_at_once() {
    let Some(tree) = TestTree::new("live-pids") else { return };
    let limits = Limits { memory: Some(64 * MIB), pids: Some(64), ..Limits::default() };
    // Forks one `sleep` per second while it can; the limit is cut under it.
    let script = "while true; do sleep 0.2 & sleep 1; done";
    let mut agent =
        tree.sandbox.spawn(spec("pidcut/0/1", &["sh", "-c", script], limits)).await.unwrap();
    agent
        .set_limits(Limits { memory: Some(64 * MIB), pids: Some(1), ..Limits::default() })
        .unwrap();
    let events = tree.box_dir("pids", "pidcut/0/1").join("pids.events");
    let refused = crate::support::wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&events).is_ok_and(|e| e.trim() != "max 0")
    })
    .await;
    assert!(
        refused,
        "a fork past the new pids.max is refused: {:?}",
        std::fs::read_to_string(&events)
    );
    let stopped = agent.stop(libc::SIGTERM, Duration::from_secs(2)).await;
    agent.finish(stopped.status, EndReason::Stopped).await;
}
