//! Bad input: typed errors that name what failed, and no cgroup left behind.

use stockade_proto::{ExitCause, Limits, SpawnErrorKind};
use stockade_sandbox::{
    BackendChoice, EndReason, Sandbox, SandboxConfig, SandboxError, SpawnError, WaitError,
};

use crate::support::{TestTree, spec};

#[tokio::test]
async fn spawn_failures_are_typed_and_leave_no_box() {
    let Some(tree) = TestTree::new("spawnfail") else { return };
    let err = tree
        .sandbox
        .spawn(spec("f/1", &["no-such-program-xyz"], Limits::default()))
        .await
        .unwrap_err();
    match err.cause() {
        ExitCause::SpawnFailed { error, errno, hint, .. } => {
            assert_eq!(error, SpawnErrorKind::NotFound);
            assert_eq!(errno, Some(libc::ENOENT));
            assert!(hint.contains("PATH="), "{hint}");
        }
        other => panic!("{other:?}"),
    }
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("script.sh");
    std::fs::write(&plain, "#!/bin/sh\necho hi\n").unwrap();
    let err = tree
        .sandbox
        .spawn(spec("f/2", &[plain.to_str().unwrap()], Limits::default()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::NotExecutable);
    assert!(err.to_string().contains("script.sh"), "{err}");
    // Executable, but its interpreter is missing: the kernel's ENOENT, after the box was made.
    let script = dir.path().join("orphan.sh");
    std::fs::write(&script, "#!/no/such/interpreter\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let err = tree
        .sandbox
        .spawn(spec("f/3", &[script.to_str().unwrap()], Limits::default()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::NotFound);
    assert!(err.hint().contains("#!"), "{}", err.hint());
    for name in ["f/1", "f/2", "f/3", "f"] {
        assert!(!tree.box_dir("memory", name).exists(), "{name} left behind");
        assert!(!tree.box_dir("pids", name).exists(), "{name} left behind");
    }
}

#[tokio::test]
async fn bad_limits_and_names_are_refused_before_the_kernel_is_touched() {
    let Some(tree) = TestTree::new("badlimits") else { return };
    let err = tree
        .sandbox
        .spawn(spec("b/1", &["true"], Limits { memory: Some(0), ..Limits::default() }))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SpawnError::Box { source: SandboxError::InvalidLimit { field: "memory", .. }, .. }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), SpawnErrorKind::BoxSetup);
    assert!(err.hint().contains("1 MiB"), "{}", err.hint());
    let err = tree
        .sandbox
        .spawn(spec("b/2", &["true"], Limits { pids: Some(0), ..Limits::default() }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("pids"), "{err}");
    let err =
        tree.sandbox.spawn(spec("../escape", &["true"], Limits::default())).await.unwrap_err();
    assert!(err.to_string().contains("`..`"), "{err}");
    assert!(!tree.box_dir("memory", "b").exists());
    // A box of the same name twice: the second is refused, the first is untouched.
    let mut first =
        tree.sandbox.spawn(spec("same", &["sleep", "30"], Limits::default())).await.unwrap();
    let err = tree.sandbox.spawn(spec("same", &["true"], Limits::default())).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(tree.sandbox.live_pids("same").unwrap(), vec![first.pid()]);
    let stopped = first.stop(libc::SIGKILL, std::time::Duration::from_secs(5)).await;
    first.finish(stopped.status, EndReason::Stopped).await;
}

#[tokio::test]
async fn a_box_that_vanished_is_an_error_not_a_panic() {
    let Some(tree) = TestTree::new("vanish") else { return };
    let mut agent = tree.sandbox.spawn(spec("v", &["true"], Limits::default())).await.unwrap();
    let status = agent.wait().await.unwrap();
    for controller in ["memory", "pids", "cpu", "cpuacct", "freezer"] {
        let dir = tree.box_dir(controller, "v");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::remove_dir(&dir).is_err()
            && dir.exists()
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let err = agent.signal_all(libc::SIGTERM).unwrap_err();
    assert!(matches!(err, SandboxError::BoxVanished { .. }), "{err}");
    assert!(err.to_string().contains("vanished"));
    assert_eq!(agent.usage().memory_current, None);
    let death = agent.finish(status, EndReason::Exited).await;
    assert_eq!(death.cause, ExitCause::Exited { code: 0 });
    assert!(
        death.evidence.notes.iter().any(|n| n.contains("memory.oom_control")),
        "{:?}",
        death.evidence.notes
    );
}

#[tokio::test]
async fn an_unwritable_cgroup_root_falls_back_to_none_or_fails_typed() {
    // A fake proc that places v1 hierarchies under /proc, where nobody can mkdir.
    let proc = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(proc.path().join("self")).unwrap();
    std::fs::write(
        proc.path().join("self/mountinfo"),
        "1 0 0:1 / /proc/stockade-nope/memory rw - cgroup cgroup rw,memory\n2 0 0:2 / /proc/stockade-nope/pids rw - cgroup cgroup rw,pids\n",
    )
    .unwrap();
    std::fs::write(proc.path().join("self/cgroup"), "2:pids:/\n1:memory:/\n").unwrap();
    let config = SandboxConfig {
        cgroup_root: "/proc/stockade-nope".into(),
        proc_root: proc.path().to_path_buf(),
        parent: "stockade".into(),
        mode: BackendChoice::V1,
        id_range: Default::default(),
    };
    let err = Sandbox::new(config.clone()).unwrap_err();
    assert!(matches!(&err, SandboxError::Io { action: "create", .. }), "{err}");
    assert!(err.to_string().contains("/proc/stockade-nope/"), "{err}");
    let sandbox = Sandbox::new(SandboxConfig { mode: BackendChoice::Auto, ..config }).unwrap();
    assert_eq!(sandbox.kind(), stockade_sandbox::BackendKind::None);
    assert!(sandbox.warnings()[0].contains("/proc/stockade-nope/"), "{:?}", sandbox.warnings());
}

#[tokio::test]
async fn a_failed_wait_is_an_unknown_status_not_a_made_up_sigkill() {
    let Some(tree) = TestTree::new("waitfail") else { return };
    let mut agent = tree.sandbox.spawn(spec("w", &["true"], Limits::default())).await.unwrap();
    agent.wait().await.unwrap();
    // What `finish` is told when `wait` failed (a broken pidfd: ECHILD).
    let failed = WaitError::new("w", agent.pid(), &std::io::Error::from_raw_os_error(libc::ECHILD));
    let death = agent.finish(Err::<std::process::ExitStatus, _>(failed), EndReason::Exited).await;
    assert_eq!(death.cause, ExitCause::Interrupted, "{:?}", death.evidence);
    assert_eq!((death.evidence.signal, death.evidence.exit_code), (None, None));
    let decided = &death.evidence.decided_by;
    assert!(decided.contains("could not read the exit status"), "{decided}");
    assert!(decided.contains("No child processes"), "{decided}");
    assert!(!tree.box_dir("memory", "w").exists(), "the box is removed all the same");

    // A stop stockade asked for stays a stop; the unknown status is a note.
    let mut agent = tree.sandbox.spawn(spec("w2", &["true"], Limits::default())).await.unwrap();
    agent.wait().await.unwrap();
    let failed = WaitError::new("w2", 0, &std::io::Error::other("pidfd broke"));
    let death = agent.finish(Err::<std::process::ExitStatus, _>(failed), EndReason::Stopped).await;
    assert_eq!(death.cause, ExitCause::Stopped);
    assert!(death.evidence.decided_by.contains("status unknown"), "{}", death.evidence.decided_by);
    assert!(
        death.evidence.notes.iter().any(|n| n.contains("pidfd broke")),
        "{:?}",
        death.evidence.notes
    );
}
