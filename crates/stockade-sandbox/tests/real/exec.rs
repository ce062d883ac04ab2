//! `Sandbox::exec` into a running walled box: same namespaces, cgroup, user,
//! capabilities and env; exact status; it dies with the box; strangers refused.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use stockade_proto::Limits;
use stockade_sandbox::{EndReason, ExecSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::TestTree;

fn cgroups(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

/// Whether a live (not zombie) process on the host has exactly this cmdline.
fn running(cmdline: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        let pid = e.file_name().to_string_lossy().parse::<u32>();
        pid.is_ok_and(|pid| !crate::support::is_gone(pid))
            && std::fs::read_to_string(e.path().join("cmdline")).is_ok_and(|c| c == cmdline)
    })
}

#[tokio::test]
async fn exec_joins_the_box_and_reports_the_exact_status() {
    let Some(tree) = TestTree::new("wexec") else { return };
    let mut s =
        tree.spec(true, "x/1", &["sleep", "30"], Limits { pids: Some(32), ..Limits::default() });
    s.env.push(("BOX_VAR".into(), "from-the-box".into()));
    let mut agent = tree.sandbox.spawn(s).await.unwrap();
    let script = r#"
        echo uid=$(id -u)
        echo sees=$(cat /proc/[0-9]*/comm | tr '\n' ' ')
        grep -E '^(CapEff|NoNewPrivs):' /proc/self/status
        echo var=$BOX_VAR extra=$EXTRA host=$(hostname)
        read line; echo got=$line
        exit 7
    "#;
    let mut exec = tree
        .sandbox
        .exec(ExecSpec {
            pid: agent.pid(),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![("EXTRA".into(), "1".into())],
            cwd: None,
            tty: false,
        })
        .await
        .unwrap();
    // The command is in the box's cgroup: compare with the init's, on the host.
    let relay = exec.pid();
    assert_eq!(cgroups(relay), cgroups(agent.pid()), "the exec joined the box's cgroups");
    let mut stdin = exec.take_stdin().unwrap();
    stdin.write_all(b"hello\n").await.unwrap();
    drop(stdin);
    let mut out = String::new();
    exec.take_stdout().unwrap().read_to_string(&mut out).await.unwrap();
    let status = exec.wait().await.unwrap();
    assert_eq!(status.code(), Some(7), "{out}");
    assert!(out.contains("uid=0"), "{out}");
    assert!(out.contains("sleep"), "sees the agent in its pid namespace: {out}");
    assert!(out.contains("stockade-init"), "{out}");
    assert!(out.contains("CapEff:\t00000000a80425fb") && out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("var=from-the-box extra=1 host=walled-test"), "{out}");
    assert!(out.contains("got=hello"), "{out}");

    // kill() ends the command with its relay; a dropped exec leaves no zombie.
    let mut killed = tree
        .sandbox
        .exec(ExecSpec {
            pid: agent.pid(),
            argv: vec!["sleep".into(), "61".into()],
            ..ExecSpec::default()
        })
        .await
        .unwrap();
    killed.kill().unwrap();
    let status =
        tokio::time::timeout(Duration::from_secs(10), killed.wait()).await.unwrap().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(
        crate::support::wait_until(Duration::from_secs(5), || !running("sleep\u{0}61\u{0}")).await,
        "the killed exec's command (sleep 61) is still running"
    );
    let dropped = tree
        .sandbox
        .exec(ExecSpec {
            pid: agent.pid(),
            argv: vec!["sleep".into(), "62".into()],
            ..ExecSpec::default()
        })
        .await
        .unwrap();
    let dropped_pid = dropped.pid();
    drop(dropped);
    assert!(
        crate::support::wait_until(Duration::from_secs(5), || crate::support::is_gone(dropped_pid)
            && !std::path::Path::new(&format!("/proc/{dropped_pid}")).exists())
        .await,
        "a dropped exec's relay was not reaped"
    );

    // A long exec dies with the box.
    let mut long = tree
        .sandbox
        .exec(ExecSpec {
            pid: agent.pid(),
            argv: vec!["sleep".into(), "60".into()],
            ..ExecSpec::default()
        })
        .await
        .unwrap();
    let outcome = agent.stop(libc::SIGKILL, Duration::from_millis(100)).await;
    let death = agent.finish(outcome.status, EndReason::Stopped).await;
    assert_eq!(death.evidence.signal, Some(libc::SIGKILL));
    let ended = tokio::time::timeout(Duration::from_secs(10), long.wait()).await;
    assert!(ended.is_ok(), "the exec outlived its box");

    // The box is gone: its pid is no longer a door.
    let err = tree
        .sandbox
        .exec(ExecSpec { pid: relay, argv: vec!["true".into()], ..ExecSpec::default() })
        .await;
    assert!(err.is_err());
}

#[tokio::test]
async fn exec_with_a_tty_and_strangers_are_refused() {
    let Some(tree) = TestTree::new("wexectty") else { return };
    let mut agent = tree
        .sandbox
        .spawn(tree.spec(true, "t/1", &["sleep", "30"], Limits::default()))
        .await
        .unwrap();
    let mut exec = tree
        .sandbox
        .exec(ExecSpec {
            pid: agent.pid(),
            argv: vec![
                "sh".into(),
                "-c".into(),
                "test -t 0 && read go && stty size; exit 3".into(),
            ],
            tty: true,
            ..ExecSpec::default()
        })
        .await
        .unwrap();
    exec.resize(33, 111).unwrap();
    let mut pty = exec.take_pty().unwrap();
    pty.write_all(b"go\n").await.unwrap();
    let status = exec.wait().await.unwrap();
    let mut out = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), pty.read_to_string(&mut out)).await;
    assert_eq!(status.code(), Some(3));
    assert!(out.contains("33 111"), "a terminal of the size set: {out:?}");

    // This test process is no box of the sandbox: refused, nothing started.
    let me = std::process::id();
    let err = tree
        .sandbox
        .exec(ExecSpec { pid: me, argv: vec!["true".into()], ..ExecSpec::default() })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not the init of a walled box"), "{err}");
    let outcome = agent.stop(libc::SIGTERM, Duration::from_secs(5)).await;
    agent.finish(outcome.status, EndReason::Stopped).await;
}
