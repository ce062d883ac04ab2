//! The walls seen from inside a walled box and from the host: ids, pids,
//! capabilities, no_new_privs, /tmp, the workspace, hostname, env, users,
//! mounts, hide, network none, rootfs, stop forwarding, typed errors.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use stockade_proto::{Limits, SpawnErrorKind};
use stockade_sandbox::{BindMount, BoxUser, EndReason, Network, SpawnError};

use crate::support::{TestTree, run_walled, wait_until};

/// `Key:\tvalue` from a /proc status text.
fn field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')).map(str::trim)
}

fn host_status(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

/// The first child of `pid` (the agent under its init).
fn first_child(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[tokio::test]
async fn inside_the_box_root_has_docker_caps_its_own_pids_tmp_hostname_and_exact_env() {
    let Some(tree) = TestTree::new("winside") else { return };
    let script = r#"
        echo uid=$(id -u) gid=$(id -g)
        echo pid=$$
        echo init=$(tr '\0' ' ' < /proc/1/cmdline)
        echo procs=$(ls /proc | grep -c '^[0-9]')
        grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status
        echo tmp=$(stat -f -c '%b*%S' /tmp) type=$(stat -f -c %T /tmp)
        echo host=$(hostname)
        echo cwd=$(pwd)
        tr '\0' '\n' < /proc/$$/environ | sed 's/^/env:/'
        echo written > /workspace/made && echo gone > /dev/null && echo devnull=ok
    "#;
    let mut s = tree.spec(true, "in/1", &["sh", "-c", script], Limits::default());
    s.env.push(("ONLY_THIS".into(), "yes".into()));
    let ws = s.walls.as_ref().unwrap().workspace.clone();
    let (out, err, status) = run_walled(&tree.sandbox, s).await;
    assert!(status.success(), "{status:?} {err}");
    let line = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {key} in {out}"))
    };
    assert_eq!(line("uid="), "0 gid=0");
    assert_ne!(line("pid="), "1", "the agent is never pid 1");
    assert!(line("init=").starts_with("stockade-init"), "{out}");
    // init, sh, ls and grep at most: no host process is visible.
    assert!(line("procs=").parse::<u32>().unwrap() <= 5, "{out}");
    assert_eq!(line("CapEff:"), "00000000a80425fb", "Docker's default set, no CAP_SYS_ADMIN");
    assert_eq!(line("CapBnd:"), "00000000a80425fb");
    assert_eq!(line("NoNewPrivs:"), "1");
    assert_eq!(line("Seccomp:"), "2", "the seccomp filter is on");
    let (blocks, rest) = line("tmp=").split_once('*').unwrap();
    let (bsize, kind) = rest.split_once(" type=").unwrap();
    assert_eq!(blocks.parse::<u64>().unwrap() * bsize.parse::<u64>().unwrap(), 16 << 20);
    assert_eq!(kind, "tmpfs");
    assert_eq!(line("host="), "walled-test");
    assert_eq!(line("cwd="), "/workspace");
    let mut env: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("env:")).collect();
    env.sort();
    assert_eq!(env, ["HOME=/workspace", "ONLY_THIS=yes", "PATH=/usr/local/bin:/usr/bin:/bin"]);
    assert_eq!(line("devnull="), "ok", "/dev/null is writable");
    let made = std::fs::metadata(ws.join("made")).unwrap();
    assert!(made.uid() >= 0x8000_0000, "written as the box's host uid, got {}", made.uid());
    assert_eq!(
        made.uid(),
        std::fs::metadata(&ws).unwrap().uid(),
        "the workspace belongs to the box"
    );
}

#[tokio::test]
async fn on_the_host_the_box_is_an_unprivileged_uid_and_a_stop_goes_through_the_init() {
    let Some(tree) = TestTree::new("whost") else { return };
    let s = tree.spec(true, "h/1", &["sleep", "30"], Limits::default());
    let mut agent = tree.sandbox.spawn(s).await.unwrap();
    let init = agent.pid();
    assert!(wait_until(Duration::from_secs(5), || first_child(init).is_some()).await);
    let sleeper = first_child(init).unwrap();
    for pid in [init, sleeper] {
        let status = host_status(pid);
        let uid: u32 =
            field(&status, "Uid").unwrap().split_whitespace().next().unwrap().parse().unwrap();
        assert!(uid >= 0x8000_0000, "pid {pid} runs as host uid {uid}");
        assert_eq!(field(&status, "CapEff"), Some("00000000a80425fb"));
    }
    // NSpid: the host pid, then the pid inside.
    assert_eq!(field(&host_status(init), "NSpid").unwrap().split_whitespace().nth(1), Some("1"));
    assert_ne!(field(&host_status(sleeper), "NSpid").unwrap().split_whitespace().nth(1), Some("1"));
    let outcome = agent.stop(libc::SIGTERM, Duration::from_secs(10)).await;
    assert!(!outcome.killed, "the init forwarded SIGTERM and sleep died of it");
    assert_eq!(
        outcome.status.as_ref().ok().and_then(|s| s.signal()),
        Some(libc::SIGTERM),
        "the agent's status, not the init's 143"
    );
    let death = agent.finish(outcome.status, EndReason::Stopped).await;
    assert_eq!(death.evidence.signal, Some(libc::SIGTERM));
}

#[tokio::test]
async fn a_box_user_by_name_or_id_has_no_capabilities() {
    let Some(tree) = TestTree::new("wuser") else { return };
    for (i, user) in [BoxUser::Name("nobody".into()), BoxUser::Id { uid: 1000, gid: 1000 }]
        .into_iter()
        .enumerate()
    {
        let expect = if i == 0 { "65534" } else { "1000" };
        let mut s = tree.spec(
            true,
            &format!("u/{i}"),
            &["sh", "-c", "echo $(id -u):$(id -g); grep CapEff /proc/self/status"],
            Limits::default(),
        );
        s.walls.as_mut().unwrap().user = Some(user);
        let ws = s.walls.as_ref().unwrap().workspace.clone();
        let (out, err, status) = run_walled(&tree.sandbox, s).await;
        assert!(status.success(), "{err}");
        assert!(out.starts_with(&format!("{expect}:")), "{out}");
        assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
        let owner = std::fs::metadata(&ws).unwrap().uid();
        assert_eq!(
            owner % 65_536,
            expect.parse::<u32>().unwrap(),
            "workspace chowned to the box user"
        );
    }
    let mut s = tree.spec(true, "u/x", &["true"], Limits::default());
    s.walls.as_mut().unwrap().user = Some(BoxUser::Name("no-such-user-stockade".into()));
    let err = tree.sandbox.spawn(s).await.unwrap_err();
    assert!(matches!(err, SpawnError::InvalidSpec { .. }), "{err}");
    assert!(
        err.to_string().contains("no-such-user-stockade")
            && err.to_string().contains("/etc/passwd"),
        "{err}"
    );
}

#[tokio::test]
async fn mounts_are_idmapped_or_read_only_and_hidden_paths_are_empty() {
    let Some(tree) = TestTree::new("wmounts") else { return };
    let shared = tree.dir.path().join("shared");
    let readonly = tree.dir.path().join("readonly");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(&readonly).unwrap();
    std::os::unix::fs::chown(&shared, Some(1234), Some(1234)).unwrap();
    std::fs::write(readonly.join("data"), "ro").unwrap();
    let secret = tempfile::tempdir_in("/var/tmp").unwrap();
    std::fs::write(secret.path().join("token"), "s3cret").unwrap();
    let script = format!(
        "echo new > /data/new && ls -n /data/new && cat /ro/data && (echo x > /ro/data) 2>&1; ls -A {} | wc -l",
        secret.path().display()
    );
    let mut s = tree.spec(true, "m/1", &["sh", "-c", &script], Limits::default());
    let walls = s.walls.as_mut().unwrap();
    walls.mounts = vec![
        BindMount { source: shared.clone(), target: "/data".into(), read_only: false },
        BindMount { source: readonly.clone(), target: "/ro".into(), read_only: true },
    ];
    walls.hide = vec![secret.path().to_path_buf()];
    let (out, err, _status) = run_walled(&tree.sandbox, s).await;
    let written = std::fs::metadata(shared.join("new")).unwrap();
    let idmapped = !tree.sandbox.warnings().iter().any(|w| w.contains("idmapped"));
    if idmapped {
        assert_eq!(
            written.uid(),
            1234,
            "written through an idmapped mount: owned by the mount's owner ({out} {err})"
        );
        assert!(out.contains(" 0 0 "), "the owner is root inside: {out}");
    }
    assert!(
        out.contains("rosh:") || out.contains("ro\n"),
        "read through the read-only bind: {out}"
    );
    assert!(out.contains("Read-only file system"), "{out} {err}");
    assert_eq!(std::fs::read_to_string(readonly.join("data")).unwrap(), "ro");
    assert_eq!(out.lines().last(), Some("0"), "the hidden directory is empty inside: {out}");
}

#[tokio::test]
async fn network_none_has_only_loopback_and_it_is_up() {
    let Some(tree) = TestTree::new("wnet") else { return };
    let script = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; \
        python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(); c=socket.create_connection(s.getsockname()); print(\"lo-up\")'";
    let mut s = tree.spec(true, "n/1", &["sh", "-c", script], Limits::default());
    s.walls.as_mut().unwrap().network = Network::None;
    s.env.push((
        "PATH".into(),
        format!("/usr/bin:/bin:{}", std::env::var("PATH").unwrap_or_default()),
    ));
    let (out, err, _) = run_walled(&tree.sandbox, s).await;
    let ifaces: Vec<&str> = out.lines().filter(|l| *l != "lo-up").collect();
    assert_eq!(ifaces, ["lo"], "{out} {err}");
    if !err.contains("python3") {
        assert!(out.contains("lo-up"), "{out} {err}");
    }
}

/// A tiny root tree: busybox and its applet links.
fn busybox_rootfs(dir: &Path) -> bool {
    let Ok(busybox) = which("busybox") else { return false };
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::copy(busybox, dir.join("bin/busybox")).unwrap();
    for applet in ["sh", "id", "ls", "cat", "echo"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0::/:/bin/sh\nagent:x:4242:4343::/workspace:/bin/sh\n",
    )
    .unwrap();
    true
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[tokio::test]
async fn a_rootfs_runs_its_own_programs_users_and_refuses_what_it_lacks() {
    let Some(tree) = TestTree::new("wrootfs") else { return };
    let root = tree.dir.path().join("rootfs");
    if !busybox_rootfs(&root) {
        eprintln!("skipping: no busybox to build a root tree from");
        return;
    }
    let mut s =
        tree.spec(true, "r/1", &["sh", "-c", "id -u; ls /; ls /bin/busybox"], Limits::default());
    s.walls.as_mut().unwrap().rootfs = Some(root.clone());
    s.walls.as_mut().unwrap().user = Some(BoxUser::Name("agent".into()));
    s.env = vec![("PATH".into(), "/bin".into())];
    let (out, err, status) = run_walled(&tree.sandbox, s).await;
    assert!(status.success(), "{out} {err}");
    assert!(out.starts_with("4242\n"), "user from the rootfs's passwd: {out}");
    assert!(!out.contains("usr"), "the host root is not shown: {out}");
    assert!(out.contains("workspace"), "{out}");

    let mut s = tree.spec(true, "r/2", &["python3"], Limits::default());
    s.walls.as_mut().unwrap().rootfs = Some(root.clone());
    s.env = vec![("PATH".into(), "/bin:/usr/bin".into())];
    let err = tree.sandbox.spawn(s).await.unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::NotFound, "{err}");
    assert!(
        err.hint().contains(&root.display().to_string())
            && err.hint().contains("PATH=/bin:/usr/bin"),
        "{}",
        err.hint()
    );
    assert!(!tree.box_dir("memory", "r/2").exists(), "no box left behind");

    let mut s = tree.spec(true, "r/3", &["true"], Limits::default());
    s.walls.as_mut().unwrap().rootfs = Some(tree.dir.path().join("no-such-root"));
    let err = tree.sandbox.spawn(s).await.unwrap_err();
    assert!(
        err.to_string().contains("no-such-root") && err.hint().contains("docker export"),
        "{err} / {}",
        err.hint()
    );

    let mut s = tree.spec(true, "r/5", &["true"], Limits::default());
    let under_stage = format!("/run/stockade-test-ws-{}", std::process::id());
    s.walls.as_mut().unwrap().workspace = under_stage.clone().into();
    let err = tree.sandbox.spawn(s).await.unwrap_err();
    assert!(err.to_string().contains("where box roots are assembled"), "{err}");
    assert!(!Path::new(&under_stage).exists(), "refused before anything was made");

    let mut s = tree.spec(true, "r/4", &["true"], Limits::default());
    s.walls.as_mut().unwrap().mounts = vec![BindMount {
        source: "/no/such/source".into(),
        target: "/data".into(),
        read_only: true,
    }];
    let err = tree.sandbox.spawn(s).await.unwrap_err();
    assert!(err.to_string().contains("/no/such/source"), "{err}");
    assert!(!tree.box_dir("memory", "r/4").exists(), "no box left behind");
}

#[tokio::test]
async fn walled_spawn_failures_are_typed_and_leave_no_box() {
    let Some(tree) = TestTree::new("wfail") else { return };
    let err = tree
        .sandbox
        .spawn(tree.spec(true, "f/1", &["no-such-program-xyz"], Limits::default()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::NotFound);
    assert!(err.hint().contains("PATH="), "{}", err.hint());
    // A script whose interpreter is missing: the init's exec reports ENOENT.
    let s = tree.spec(true, "f/2", &["/workspace/run.sh"], Limits::default());
    let ws = s.walls.as_ref().unwrap().workspace.clone();
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("run.sh"), "#!/no/such/interpreter\n").unwrap();
    std::fs::set_permissions(
        ws.join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let err = tree.sandbox.spawn(s).await.unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::NotFound, "{err}");
    assert_eq!(err.errno(), Some(libc::ENOENT));
    for name in ["f/1", "f/2"] {
        assert!(!tree.box_dir("memory", name).exists(), "{name} left behind");
    }
}
