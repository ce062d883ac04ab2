//! The hostile suite: each attempt runs inside a walled box and must fail
//! with the host unharmed — and each test checks the host afterwards, so a
//! missing wall fails it. Attacks are aimed only at things the test made
//! (one sleeper pid, one loopback listener, paths the test removes), never
//! at the host at large.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command};
use std::time::Duration;

use stockade_proto::Limits;
use stockade_sandbox::{BoxUser, EndReason, Network, SpawnSpec};

use crate::support::{TestTree, run_walled, wait_until};

const PY: &str = "/usr/bin/python3";

/// A host process the box is told about (and must not be able to touch).
struct Sleeper(Child);

impl Sleeper {
    fn start() -> Sleeper {
        Sleeper(Command::new("sleep").arg("300").spawn().expect("start a host sleeper"))
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn box_spec(tree: &TestTree, name: &str, script: &str) -> SpawnSpec {
    let mut s = tree.spec(
        true,
        name,
        &["sh", "-c", script],
        Limits { pids: Some(64), memory: Some(256 << 20), ..Limits::default() },
    );
    s.env.push(("PY".into(), PY.into()));
    s
}

#[tokio::test]
async fn the_box_cannot_leave_its_cgroup() {
    let Some(tree) = TestTree::new("hcgroup") else { return };
    let host_cg = stockade_sandbox::own_cgroup_dir("memory").unwrap();
    let script = format!(
        "for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/*/cgroup.procs {}/cgroup.procs; do echo $$ > $f 2>/dev/null && echo ESCAPED $f; done; \
         echo listing=$(ls -A /sys/fs/cgroup | wc -l); touch /workspace/done; sleep 30",
        host_cg.display()
    );
    let s = box_spec(&tree, "c/1", &script);
    let done = s.walls.as_ref().unwrap().workspace.join("done");
    let mut agent = tree.sandbox.spawn(s).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || done.exists()).await,
        "the attempts never finished"
    );
    let init = agent.pid();
    let agent_pid = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
    let agent_pid: u32 = agent_pid.split_whitespace().next().unwrap().parse().unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{agent_pid}/cgroup")).unwrap();
    let memory = cgroup.lines().find(|l| l.split(':').nth(1) == Some("memory")).unwrap();
    assert!(memory.ends_with(&format!("/{}/c/1", tree.parent)), "the agent left its box: {memory}");
    let procs =
        std::fs::read_to_string(tree.box_dir("memory", "c/1").join("cgroup.procs")).unwrap();
    assert!(procs.split_whitespace().any(|p| p == agent_pid.to_string()), "{procs}");
    let outcome = agent.stop(libc::SIGKILL, Duration::from_millis(10)).await;
    let mut out = String::new();
    if let Some(mut o) = agent.take_stdout() {
        use tokio::io::AsyncReadExt;
        let _ = o.read_to_string(&mut out).await;
    }
    agent.finish(outcome.status, EndReason::Stopped).await;
    assert!(!out.contains("ESCAPED"), "{out}");
    assert!(out.contains("listing=0"), "no cgroupfs is visible: {out}");
}

#[tokio::test]
async fn the_box_cannot_kill_ptrace_or_read_host_processes() {
    let Some(tree) = TestTree::new("hkill") else { return };
    let mut sleeper = Sleeper::start();
    let me = std::process::id();
    let script = format!(
        "kill -9 {pid}; echo kill=$?; cat /proc/{me}/environ >/dev/null; echo environ=$?; \
         $PY -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); r=l.ptrace(16, {pid}, 0, 0); print(\"ptrace\", r, ctypes.get_errno())'",
        pid = sleeper.pid()
    );
    let (out, err, _) = run_walled(&tree.sandbox, box_spec(&tree, "k/1", &script)).await;
    assert!(sleeper.alive(), "the host sleeper was killed from inside a box: {out} {err}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", sleeper.pid())).unwrap();
    assert!(status.lines().any(|l| l == "TracerPid:\t0"), "the host sleeper is being traced");
    assert!(out.contains("kill=1") || out.contains("kill=2"), "{out} {err}");
    assert!(err.contains("No such process"), "the host pid is not visible: {err}");
    assert!(out.contains("environ=1"), "the daemon's environment is not readable: {out}");
    assert!(out.contains("ptrace -1 3"), "ptrace of a host pid: ESRCH: {out} {err}");
}

#[tokio::test]
async fn the_box_cannot_read_another_boxs_workspace_or_root() {
    let Some(tree) = TestTree::new("hpeek") else { return };
    // Workspaces live under the daemon's state dir, which every box hides.
    let state = tempfile::tempdir_in("/var/tmp").unwrap();
    let hide = |s: &mut SpawnSpec, name: &str| {
        let w = s.walls.as_mut().unwrap();
        w.workspace = state.path().join(name);
        w.hide = vec![state.path().to_path_buf()];
    };
    let mut a = box_spec(&tree, "p/a", "echo top-secret > /workspace/secret; sleep 30");
    hide(&mut a, "a");
    let mut agent_a = tree.sandbox.spawn(a).await.unwrap();
    let secret = state.path().join("a/secret");
    assert!(wait_until(Duration::from_secs(10), || secret.exists()).await);
    let script = format!(
        "cat {}/a/secret; echo cat=$?; ls -A {}; echo ls-state=$?; ls /root; echo root=$?",
        state.path().display(),
        state.path().display()
    );
    let mut b = box_spec(&tree, "p/b", &script);
    hide(&mut b, "b");
    let (out, err, _) = run_walled(&tree.sandbox, b).await;
    assert!(!out.contains("top-secret"), "box b read box a's workspace: {out}");
    assert!(out.contains("cat=1"), "{out} {err}");
    assert!(
        out.contains("\nls-state=0") && !out.contains("\na\n"),
        "the state dir is an empty tmpfs inside: {out}"
    );
    // /root is 0700 host root; inside it belongs to no mapped user: EACCES.
    assert!(out.contains("root=2") && err.contains("Permission denied"), "{out} {err}");
    let outcome = agent_a.stop(libc::SIGKILL, Duration::from_millis(10)).await;
    agent_a.finish(outcome.status, EndReason::Stopped).await;
}

#[tokio::test]
async fn the_box_cannot_write_etc_mount_or_load_modules() {
    let Some(tree) = TestTree::new("hwrite") else { return };
    let target = format!("/etc/stockade-hostile-{}-{}", std::process::id(), rand_suffix());
    let script = format!(
        "echo pwned > {target}; echo etc=$?; mount -t tmpfs x /mnt; echo mount=$?; \
         unshare -Urm sh -c 'mount -t tmpfs x /mnt && echo NESTED-MOUNT'; echo unshare=$?; \
         $PY -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); print(\"init_module\", l.syscall(175, None, 0, b\"\"), ctypes.get_errno()); print(\"finit_module\", l.syscall(313, 0, b\"\", 0), ctypes.get_errno())'"
    );
    let (out, err, _) = run_walled(&tree.sandbox, box_spec(&tree, "w/1", &script)).await;
    let appeared = std::path::Path::new(&target).exists();
    if appeared {
        let _ = std::fs::remove_file(&target);
    }
    assert!(!appeared, "the box wrote {target} on the host");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!out.contains("mount=0") && !out.contains("NESTED-MOUNT"), "{out} {err}");
    assert!(out.contains("init_module -1 1") && out.contains("finit_module -1 1"), "{out} {err}");
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[tokio::test]
async fn a_setuid_binary_does_not_raise_the_box_user() {
    let Some(tree) = TestTree::new("hsuid") else { return };
    let mut s = box_spec(
        &tree,
        "s/1",
        "/workspace/id -u; stat -c 'mode=%a owner=%u' /workspace/id; su -c 'id -u' root; echo su=$?",
    );
    s.walls.as_mut().unwrap().user = Some(BoxUser::Id { uid: 1000, gid: 1000 });
    let ws = s.walls.as_ref().unwrap().workspace.clone();
    std::fs::create_dir_all(&ws).unwrap();
    // A setuid copy of `id` owned by the box's root (on the host: ws's owner-to-be - 1000).
    let id = ws.join("id");
    std::fs::copy("/usr/bin/id", &id).unwrap();
    let (out, err, _) = {
        // The box's host base is known once the workspace is chowned: spawn, then fix the copy.
        let mut agent_probe = tree.sandbox.spawn(box_spec(&tree, "s/0", "sleep 30")).await.unwrap();
        let base = std::os::unix::fs::MetadataExt::uid(
            &std::fs::metadata(tree.dir.path().join("s-0/ws")).unwrap(),
        );
        let outcome = agent_probe.stop(libc::SIGKILL, Duration::from_millis(10)).await;
        agent_probe.finish(outcome.status, EndReason::Stopped).await;
        // Slots are handed out round-robin: the next box gets the next slot.
        let next_base = base + 65_536;
        std::os::unix::fs::chown(&id, Some(next_base), Some(next_base)).unwrap();
        std::fs::set_permissions(&id, std::fs::Permissions::from_mode(0o4755)).unwrap();
        run_walled(&tree.sandbox, s).await
    };
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&id).unwrap());
    let first = out.lines().next().unwrap_or_default();
    assert_eq!(first, "1000", "the setuid copy ran as {first} (owner {owner}): {out} {err}");
    assert!(
        out.contains("mode=4755 owner=0"),
        "the copy is a setuid-root binary inside the box: {out}"
    );
    assert!(!out.lines().any(|l| l == "0"), "su gave root: {out} {err}");
}

#[tokio::test]
async fn network_none_cannot_reach_a_host_loopback_port() {
    let Some(tree) = TestTree::new("hnet") else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "$PY -c 'import socket\ntry:\n socket.create_connection((\"127.0.0.1\", {port}), timeout=2); print(\"CONNECTED\")\nexcept OSError as e: print(\"refused\", e.errno)'"
    );
    let mut s = box_spec(&tree, "n/1", &script);
    s.walls.as_mut().unwrap().network = Network::None;
    let (out, err, _) = run_walled(&tree.sandbox, s).await;
    assert!(!out.contains("CONNECTED"), "{out}");
    assert!(out.contains("refused 111"), "ECONNREFUSED inside: {out} {err}");
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host listener saw a connection: {other:?}"),
    }
}

#[tokio::test]
async fn thread_exhaustion_stops_at_the_pids_limit_and_the_host_still_forks() {
    let Some(tree) = TestTree::new("hthreads") else { return };
    // Start threads until the kernel refuses one, then hold them all.
    let script = "$PY -c 'import threading, time\nn=0\ntry:\n while True:\n  threading.Thread(target=time.sleep, args=(60,), daemon=True).start(); n+=1\nexcept RuntimeError: print(\"threads\", n, flush=True); time.sleep(60)'";
    let s = box_spec(&tree, "t/1", script);
    let mut agent = tree.sandbox.spawn(s).await.unwrap();
    let full =
        wait_until(Duration::from_secs(60), || agent.usage().pids_current.is_some_and(|p| p >= 64))
            .await;
    assert!(full, "the box never filled: {:?}", agent.usage());
    assert!(Command::new("true").status().unwrap().success(), "the host can still fork");
    let usage = agent.usage();
    assert!(usage.pids_current.unwrap() <= 64, "{usage:?}");
    let outcome = agent.stop(libc::SIGKILL, Duration::from_millis(10)).await;
    let death = agent.finish(outcome.status, EndReason::Stopped).await;
    assert!(death.evidence.pids_max_hits.unwrap_or(0) > 0, "{:?}", death.evidence);
    assert_eq!(death.evidence.pids_peak, Some(64), "{:?}", death.evidence);
}
