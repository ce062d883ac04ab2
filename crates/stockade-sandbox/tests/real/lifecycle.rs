//! Spawn into the box, limits in force, usage, stop, recovery.

use std::time::Duration;

use stockade_proto::{ExitCause, Limits};
use stockade_sandbox::EndReason;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::support::{MIB, TestTree, is_gone, spec, wait_until};

#[tokio::test]
async fn the_child_is_in_its_box_with_its_limits_before_exec() {
    let Some(tree) = TestTree::new("join") else { return };
    let limits = Limits {
        memory: Some(64 * MIB),
        cpus: Some(0.5),
        pids: Some(32),
        nofile: Some(77),
        core: Some(0),
        ..Limits::default()
    };
    // The shell reads its own cgroup before it could fork or allocate much.
    let script = "cat /proc/self/cgroup; ulimit -n; ulimit -c; echo to-stderr >&2; exec sleep 30";
    let mut agent =
        tree.sandbox.spawn(spec("web/0/1", &["sh", "-c", script], limits)).await.unwrap();
    let mut out = BufReader::new(agent.take_stdout().unwrap()).lines();
    let mut lines = Vec::new();
    while lines.len() < 12 {
        match out.next_line().await.unwrap() {
            Some(line) if line == "0" => {
                lines.push(line);
                break;
            }
            Some(line) => lines.push(line),
            None => break,
        }
    }
    let text = lines.join("\n");
    for controller in ["memory", "pids", "cpu", "cpuacct", "freezer"] {
        let dir = tree.box_dir(controller, "web/0/1");
        let expected = dir
            .to_str()
            .unwrap()
            .split(&format!("/sys/fs/cgroup/{controller}"))
            .nth(1)
            .unwrap()
            .to_string();
        assert!(
            text.contains(&format!(":{controller}:{expected}")),
            "{controller} not joined:\n{text}"
        );
    }
    for untouched in ["devices", "blkio", "name=systemd"] {
        assert!(
            !text.lines().any(|l| l.contains(untouched) && l.contains(&tree.parent)),
            "{untouched} touched:\n{text}"
        );
    }
    assert!(text.contains("\n77\n0"), "nofile 77 and core 0 in force:\n{text}");
    let mut err = String::new();
    let mut stderr = agent.take_stderr().unwrap();
    let mut buf = [0u8; 64];
    let n = stderr.read(&mut buf).await.unwrap();
    err.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    assert_eq!(err, "to-stderr\n");
    let read =
        |c: &str, f: &str| std::fs::read_to_string(tree.box_dir(c, "web/0/1").join(f)).unwrap();
    assert_eq!(read("memory", "memory.limit_in_bytes").trim(), (64 * MIB).to_string());
    assert_eq!(read("pids", "pids.max").trim(), "32");
    assert_eq!(read("cpu", "cpu.cfs_quota_us").trim(), "50000");
    // Its own process group, led by itself.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", agent.pid())).unwrap();
    let pgrp: u32 =
        stat.rsplit_once(')').unwrap().1.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(pgrp, agent.pid());
    let usage = agent.usage();
    assert_eq!(usage.pids_current, Some(1));
    assert!(usage.memory_current.unwrap() > 0, "{usage:?}");
    assert!(usage.cpu_usec.is_some(), "{usage:?}");
    assert!(usage.pids_peak.unwrap() >= 1, "{usage:?}");
    let stopped = agent.stop(libc::SIGTERM, Duration::from_secs(10)).await;
    assert!(!stopped.killed, "sleep exits on SIGTERM within the grace");
    let death = agent.finish(stopped.status, EndReason::Stopped).await;
    assert_eq!(death.cause, ExitCause::Stopped);
    assert_eq!(death.evidence.signal, Some(libc::SIGTERM));
    assert!(!tree.box_dir("memory", "web/0/1").exists(), "box removed");
    assert!(!tree.box_dir("memory", "web").exists(), "empty ancestors pruned");
}

#[tokio::test]
async fn stop_kills_a_setsid_grandchild_and_reports_only_an_empty_box() {
    let Some(tree) = TestTree::new("stop") else { return };
    // The grandchild double-forks away, starts its own session and ignores
    // SIGTERM: only the box can still find it.
    let script = r#"(setsid sh -c 'trap "" TERM; echo $$; exec sleep 300' &); exec sleep 300"#;
    let limits = Limits { pids: Some(16), memory: Some(64 * MIB), ..Limits::default() };
    let mut agent = tree.sandbox.spawn(spec("svc", &["sh", "-c", script], limits)).await.unwrap();
    let mut out = BufReader::new(agent.take_stdout().unwrap()).lines();
    let grandchild: u32 = out.next_line().await.unwrap().unwrap().trim().parse().unwrap();
    assert!(!is_gone(grandchild));
    let sid = |pid: u32| -> u32 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat.rsplit_once(')').unwrap().1.split_whitespace().nth(3).unwrap().parse().unwrap()
    };
    assert_ne!(sid(grandchild), sid(agent.pid()), "the grandchild left the agent's session");
    assert_eq!(tree.sandbox.live_pids("svc").unwrap().len(), 2);

    let stopped = agent.stop(libc::SIGTERM, Duration::from_millis(300)).await;
    assert!(stopped.killed, "the grandchild ignores SIGTERM, so the grace runs out");
    assert!(is_gone(grandchild), "grandchild {grandchild} survived the stop");
    assert_eq!(
        tree.sandbox.live_pids("svc").unwrap(),
        Vec::<u32>::new(),
        "box empty when stop returns"
    );
    let death = agent.finish(stopped.status, EndReason::Stopped).await;
    assert_eq!(death.cause, ExitCause::Stopped);
    assert!(!tree.box_dir("pids", "svc").exists());
}

#[tokio::test]
async fn finish_kills_leftovers_of_an_agent_that_exited() {
    let Some(tree) = TestTree::new("leftover") else { return };
    let script = r#"(setsid sleep 300 &); exit 0"#;
    let mut agent =
        tree.sandbox.spawn(spec("job/1", &["sh", "-c", script], Limits::default())).await.unwrap();
    let status = agent.wait().await.unwrap();
    assert_eq!(status.code(), Some(0));
    let left = tree.sandbox.live_pids("job/1").unwrap();
    assert_eq!(left.len(), 1, "the orphan is still in the box: {left:?}");
    let death = agent.finish(status, EndReason::Exited).await;
    assert_eq!(death.cause, ExitCause::Exited { code: 0 });
    assert!(is_gone(left[0]));
    assert!(
        death.evidence.runtime_ms.is_some() && death.evidence.cpu_usec.is_some(),
        "{:?}",
        death.evidence
    );
    assert!(!tree.box_dir("pids", "job/1").exists());
}

#[tokio::test]
async fn recovery_finds_and_removes_a_leftover_box() {
    let Some(tree) = TestTree::new("recover") else { return };
    let mut agent =
        tree.sandbox.spawn(spec("old/7", &["sleep", "300"], Limits::default())).await.unwrap();
    assert_eq!(tree.sandbox.live_pids("old/7").unwrap(), vec![agent.pid()]);
    assert_eq!(tree.sandbox.live_pids("never/made").unwrap(), Vec::<u32>::new());
    tree.sandbox.remove_stale("old/7").unwrap();
    assert!(!tree.box_dir("memory", "old/7").exists());
    let status = agent.wait().await.unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
    // The box is already gone: finish still answers, and says what it could not read.
    let death = agent.finish(status, EndReason::Exited).await;
    assert_eq!(death.cause, ExitCause::Signaled { signal: 9, core_dumped: false });
    assert!(!death.evidence.notes.is_empty());
    tree.sandbox.remove_stale("old/7").unwrap();
}

#[tokio::test]
async fn a_dropped_agent_takes_its_box_with_it() {
    let Some(tree) = TestTree::new("drop") else { return };
    let agent = tree.sandbox.spawn(spec("d", &["sleep", "300"], Limits::default())).await.unwrap();
    let pid = agent.pid();
    drop(agent);
    let dir = tree.box_dir("pids", "d");
    assert!(
        wait_until(Duration::from_secs(10), || !dir.exists()).await,
        "box not removed after drop"
    );
    assert!(wait_until(Duration::from_secs(10), || is_gone(pid)).await);
}

#[tokio::test]
async fn the_none_backend_runs_boxes_as_process_groups() {
    let config = stockade_sandbox::SandboxConfig {
        mode: stockade_sandbox::BackendChoice::None,
        parent: format!("stockade-test-none-{}", std::process::id()),
        ..Default::default()
    };
    let sandbox = stockade_sandbox::Sandbox::new(config).unwrap();
    assert_eq!(sandbox.kind(), stockade_sandbox::BackendKind::None);
    assert_eq!(sandbox.kind().to_string(), "none");
    assert!(sandbox.warnings()[0].contains("NOT enforced"), "{:?}", sandbox.warnings());
    let limits = Limits { nofile: Some(99), ..Limits::default() };
    let mut agent =
        sandbox.spawn(spec("n/1", &["sh", "-c", "ulimit -n; exit 3"], limits)).await.unwrap();
    let mut out = String::new();
    agent.take_stdout().unwrap().read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "99\n");
    let status = agent.wait().await.unwrap();
    let death = agent.finish(status, EndReason::Exited).await;
    assert_eq!(death.cause, ExitCause::Exited { code: 3 });
    let mut agent = sandbox.spawn(spec("n/2", &["sleep", "300"], Limits::default())).await.unwrap();
    let stopped = agent.stop(libc::SIGTERM, Duration::from_secs(10)).await;
    assert!(!stopped.killed);
    assert_eq!(agent.usage(), stockade_proto::Usage::default());
    agent.finish(stopped.status, EndReason::Stopped).await;
}

#[tokio::test]
async fn a_cancelled_spawn_still_cleans_up_its_box() {
    let Some(tree) = TestTree::new("cancel") else { return };
    let parent_peak = tree.box_dir("pids", "").join("pids.peak");
    let peak = || std::fs::read_to_string(&parent_peak).unwrap().trim().parse::<u64>().unwrap();
    assert_eq!(peak(), 0, "nothing ran under the test's parent yet");
    let spawn = tree.sandbox.spawn(spec("c/1", &["sleep", "300"], Limits::default()));
    // The caller gives up at once; the spawn runs on and its agent is dropped.
    assert!(tokio::time::timeout(Duration::ZERO, spawn).await.is_err());
    // The parent's pids.peak (hierarchical) shows a process did join the box.
    assert!(wait_until(Duration::from_secs(10), || peak() > 0).await, "the spawn never ran");
    let box_dir = tree.box_dir("pids", "c/1");
    assert!(wait_until(Duration::from_secs(10), || !box_dir.exists()).await, "box left behind");
    assert_eq!(tree.sandbox.live_pids("c/1").unwrap(), Vec::<u32>::new());
}

async fn parent_death_kill_ends_the_agent_with_its_spawner(w: bool) {
    let Some(tree) = TestTree::new(if w { "wpdeath" } else { "pdeath" }) else { return };
    let config =
        stockade_sandbox::SandboxConfig { parent: tree.parent.clone(), ..Default::default() };
    let own = stockade_sandbox::Sandbox::new(config).unwrap();
    let mut kill = tree.spec(w, "p/kill", &["sleep", "300"], Limits::default());
    kill.parent_death = stockade_sandbox::ParentDeath::Kill;
    let mut doomed = own.spawn(kill).await.unwrap();
    let mut survivor =
        own.spawn(tree.spec(w, "p/live", &["sleep", "300"], Limits::default())).await.unwrap();
    // The last clone gone, the spawner thread exits: PR_SET_PDEATHSIG fires.
    drop(own);
    let status = tokio::time::timeout(Duration::from_secs(10), doomed.wait())
        .await
        .expect("still alive")
        .unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
    assert!(!is_gone(survivor.pid()), "ParentDeath::Survive keeps running");
    doomed.finish(status, EndReason::Exited).await;
    let stopped = survivor.stop(libc::SIGTERM, Duration::from_secs(10)).await;
    survivor.finish(stopped.status, EndReason::Stopped).await;
}

crate::both!(parent_death_kill_ends_the_agent_with_its_spawner);

async fn remove_subtree_kills_every_box_and_removes_the_parent(w: bool) {
    let Some(tree) = TestTree::new(if w { "wsubtree" } else { "subtree" }) else { return };
    let mut a = tree
        .sandbox
        .spawn(tree.spec(w, "u/0/1", &["sleep", "300"], Limits::default()))
        .await
        .unwrap();
    let mut b = tree
        .sandbox
        .spawn(tree.spec(w, "u/1/1", &["sleep", "300"], Limits::default()))
        .await
        .unwrap();
    let sandbox = tree.sandbox.clone();
    tokio::task::spawn_blocking(move || sandbox.remove_subtree()).await.unwrap().unwrap();
    for controller in ["memory", "pids", "cpu", "cpuacct", "freezer"] {
        assert!(!tree.box_dir(controller, "").exists(), "{controller} parent left");
    }
    for agent in [&mut a, &mut b] {
        let status = agent.wait().await.unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
    }
}

crate::both!(remove_subtree_kills_every_box_and_removes_the_parent);

#[tokio::test]
async fn release_removes_an_empty_parent_and_kills_nothing() {
    let Some(tree) = TestTree::new("release") else { return };
    let mut agent =
        tree.sandbox.spawn(spec("u.0.1", &["sleep", "300"], Limits::default())).await.unwrap();
    // A box is still there: the parent stays, and the agent is untouched.
    assert!(!tree.sandbox.release().unwrap());
    assert!(tree.box_dir("pids", "").exists());
    assert!(!is_gone(agent.pid()));
    let stopped = agent.stop(libc::SIGTERM, Duration::from_secs(10)).await;
    agent.finish(stopped.status, EndReason::Stopped).await;
    assert!(tree.sandbox.release().unwrap());
    for controller in ["memory", "pids", "cpu", "cpuacct", "freezer"] {
        assert!(!tree.box_dir(controller, "").exists(), "{controller} parent left");
    }
}
