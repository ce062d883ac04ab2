//! Every death classified, with the evidence that decided it, from real
//! processes in real boxes.

use std::time::Duration;

use stockade_proto::{ExitCause, Limits};
use stockade_sandbox::{AgentEvent, EndReason};

use crate::support::{MIB, TestTree};

async fn exit_3_is_exited_3(w: bool) {
    let Some(tree) = TestTree::new(&format!("{}exit3", if w { "w" } else { "" })) else { return };
    let mut agent = tree
        .sandbox
        .spawn(tree.spec(w, "e/1", &["sh", "-c", "exit 3"], Limits::default()))
        .await
        .unwrap();
    let status = agent.wait().await.unwrap();
    let death = agent.finish(status, EndReason::Exited).await;
    assert_eq!(death.cause, ExitCause::Exited { code: 3 });
    assert_eq!(death.evidence.exit_code, Some(3));
    assert_eq!(death.evidence.oom_kills, Some(0));
    assert_eq!(death.evidence.pids_max_hits, Some(0));
    assert_eq!(death.evidence.decided_by, "main process exited 3");
    assert!(death.evidence.notes.is_empty(), "{:?}", death.evidence.notes);
}

async fn sigsegv_is_signaled_11_with_the_core_flag(w: bool) {
    let Some(tree) = TestTree::new(&format!("{}segv", if w { "w" } else { "" })) else { return };
    let no_core = Limits { core: Some(0), ..Limits::default() };
    let mut agent = tree
        .sandbox
        .spawn(tree.spec(w, "s/1", &["sh", "-c", "kill -SEGV $$"], no_core))
        .await
        .unwrap();
    let status = agent.wait().await.unwrap();
    let death = agent.finish(status, EndReason::Exited).await;
    assert_eq!(death.cause, ExitCause::Signaled { signal: 11, core_dumped: false });

    // core_pattern is "core" here: with RLIMIT_CORE up, the kernel writes one into the cwd.
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if pattern.trim() != "core" {
        eprintln!("skipping the core-dump half: core_pattern is {pattern:?}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = tree.spec(
        w,
        "s/2",
        &["sh", "-c", "kill -SEGV $$"],
        Limits { core: Some(64 * MIB), ..Limits::default() },
    );
    if !w {
        // Walled, the cwd is /workspace: the core lands in the box's workspace.
        s.cwd = Some(dir.path().to_path_buf());
    }
    let mut agent = tree.sandbox.spawn(s).await.unwrap();
    let status = agent.wait().await.unwrap();
    let death = agent.finish(status, EndReason::Exited).await;
    assert_eq!(death.cause, ExitCause::Signaled { signal: 11, core_dumped: true });
    assert!(death.evidence.core_dumped);
}

async fn a_memory_hog_is_oom_killed_and_noticed_while_it_happens(w: bool) {
    let Some(tree) = TestTree::new(&format!("{}oom", if w { "w" } else { "" })) else { return };
    let limits = Limits { memory: Some(32 * MIB), pids: Some(16), ..Limits::default() };
    // tail buffers /dev/zero forever looking for a newline: one process that only grows.
    let mut agent =
        tree.sandbox.spawn(tree.spec(w, "hog", &["tail", "/dev/zero"], limits)).await.unwrap();
    let count = tokio::time::timeout(Duration::from_secs(60), agent.oom_notified())
        .await
        .expect("no OOM notification");
    assert_eq!(count, 1);
    let status = agent.wait().await.unwrap();
    let death = agent.finish(status, EndReason::Exited).await;
    assert_eq!(death.cause, ExitCause::OomKilled, "{:?}", death.evidence);
    let e = &death.evidence;
    assert_eq!(e.signal, Some(9));
    assert_eq!(e.oom_kills, Some(1));
    assert_eq!(e.memory_limit, Some(32 * MIB));
    assert!(e.memory_peak.unwrap() >= 30 * MIB, "{e:?}");
    assert!(e.memory_max_hits.unwrap() > 0, "{e:?}");
    assert!(e.decided_by.contains("SIGKILL and oom_kill rose by 1"), "{}", e.decided_by);
}

async fn a_helper_oom_killed_under_an_agent_that_exits_0_is_a_side_fact(w: bool) {
    let Some(tree) = TestTree::new(&format!("{}oomhelper", if w { "w" } else { "" })) else {
        return;
    };
    let limits = Limits { memory: Some(32 * MIB), pids: Some(16), ..Limits::default() };
    let mut agent = tree
        .sandbox
        .spawn(tree.spec(w, "h", &["sh", "-c", "tail /dev/zero; exit 0"], limits))
        .await
        .unwrap();
    // What a supervisor selects on: the OOM kill is seen before the exit it preceded.
    let first = tokio::time::timeout(Duration::from_secs(60), agent.next_event()).await;
    assert!(matches!(first, Ok(AgentEvent::OomKill(1))), "{first:?}");
    let status = match agent.next_event().await {
        AgentEvent::Exited(status) => status.unwrap(),
        other => panic!("expected the exit, got {other:?}"),
    };
    let death = agent.finish(status, EndReason::Exited).await;
    assert_eq!(death.cause, ExitCause::Exited { code: 0 }, "{:?}", death.evidence);
    assert_eq!(death.evidence.oom_kills, Some(1));
    assert!(
        death.evidence.decided_by.contains("side facts: oom_kill rose by 1"),
        "{}",
        death.evidence.decided_by
    );
}

async fn a_fork_bomb_hits_pids_limit_and_the_host_stays_responsive(w: bool) {
    let Some(tree) = TestTree::new(&format!("{}forkbomb", if w { "w" } else { "" })) else {
        return;
    };
    let limits =
        Limits { pids: Some(64), memory: Some(128 * MIB), cpus: Some(0.5), ..Limits::default() };
    // The classic bomb, then a fork loop in the main process: it fails (exit 2)
    // as soon as the box is full.
    let script = "bomb() { bomb | bomb & }; bomb; while :; do sleep 30 & done";
    let mut agent =
        tree.sandbox.spawn(tree.spec(w, "bomb", &["sh", "-c", script], limits)).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), agent.wait())
        .await
        .expect("main never failed")
        .unwrap();
    // While the bomb still fills its box, the host forks fine.
    let usage = agent.usage();
    let outside = std::process::Command::new("true").status().unwrap();
    assert!(outside.success());
    assert!(usage.pids_current.unwrap() <= 64, "{usage:?}");
    let death = agent.finish(status, EndReason::Exited).await;
    assert_eq!(death.cause, ExitCause::PidsLimit, "{:?}", death.evidence);
    let e = &death.evidence;
    assert!(e.pids_max_hits.unwrap() > 0, "{e:?}");
    assert_eq!(e.pids_limit, Some(64));
    assert_eq!(e.pids_peak, Some(64), "{e:?}");
    assert_ne!(e.exit_code, Some(0));
    assert!(!tree.box_dir("pids", "bomb").exists(), "bomb box removed");
}

crate::both!(exit_3_is_exited_3);

crate::both!(sigsegv_is_signaled_11_with_the_core_flag);

crate::both!(a_memory_hog_is_oom_killed_and_noticed_while_it_happens);

crate::both!(a_helper_oom_killed_under_an_agent_that_exits_0_is_a_side_fact);

crate::both!(a_fork_bomb_hits_pids_limit_and_the_host_stays_responsive);
