//! Test support: a per-test sandbox on the real cgroup tree, under a parent
//! named for the test and its pid, removed on drop even when the test fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stockade_proto::Limits;
use stockade_sandbox::{BackendChoice, BackendKind, Sandbox, SandboxConfig, SpawnSpec};

/// A sandbox whose parent subtree is removed when this is dropped.
pub struct TestTree {
    pub sandbox: Sandbox,
    pub parent: String,
    /// Scratch space for the test's workspaces, removed on drop.
    pub dir: tempfile::TempDir,
}

impl TestTree {
    /// A real-cgroup sandbox, or `None` (with the reason printed) when this
    /// host gives no writable cgroup tree.
    pub fn new(test: &str) -> Option<TestTree> {
        if rustix::process::getuid().as_raw() != 0 {
            eprintln!("skipping {test}: needs root to create cgroups");
            return None;
        }
        let parent = format!("stockade-test-{test}-{}", std::process::id());
        let config = SandboxConfig {
            parent: parent.clone(),
            mode: BackendChoice::Auto,
            ..SandboxConfig::default()
        };
        let sandbox = Sandbox::new(config).expect("auto never fails");
        let tree = TestTree { sandbox, parent, dir: tempfile::tempdir().expect("tempdir") };
        if tree.sandbox.kind() == BackendKind::None {
            eprintln!("skipping {test}: no writable cgroup tree: {:?}", tree.sandbox.warnings());
            return None;
        }
        Some(tree)
    }

    /// The box's directory in the v1 hierarchy of `controller` (this host's layout).
    pub fn box_dir(&self, controller: &str, box_name: &str) -> PathBuf {
        own_dir(controller).join(&self.parent).join(box_name)
    }

    /// A spec for `argv` in box `name`: plain, or walled with a workspace
    /// under the test's scratch dir (`<dir>/<name with / as ->`).
    pub fn spec(&self, walled: bool, name: &str, argv: &[&str], limits: Limits) -> SpawnSpec {
        if walled {
            let ws = self.dir.path().join(name.replace('/', "-"));
            std::fs::create_dir_all(&ws).unwrap();
            walled_spec(name, argv, limits, &ws)
        } else {
            spec(name, argv, limits)
        }
    }

    fn parent_dirs(&self) -> Vec<PathBuf> {
        ["memory", "pids", "cpu", "cpuacct", "freezer"]
            .iter()
            .map(|c| own_dir(c).join(&self.parent))
            .filter(|d| d.exists())
            .collect()
    }
}

impl Drop for TestTree {
    fn drop(&mut self) {
        for dir in self.parent_dirs() {
            remove_tree(&dir);
        }
    }
}

/// The daemon's (this test process's) own cgroup dir for a v1 controller.
pub fn own_dir(controller: &str) -> PathBuf {
    stockade_sandbox::own_cgroup_dir(controller)
        .unwrap_or_else(|| Path::new("/sys/fs/cgroup").join(controller))
}

/// Kill everything below `dir` (only our test's own subtree) and remove it, deepest first.
fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::remove_dir(dir).is_err() && Instant::now() < deadline {
        let pids = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in pids.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
            // SAFETY: plain kill(2) of a pid listed in our own test cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A spawn spec for `argv` in box `name` with `limits`.
pub fn spec(name: &str, argv: &[&str], limits: Limits) -> SpawnSpec {
    SpawnSpec {
        box_name: name.to_string(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        limits,
        ..SpawnSpec::default()
    }
}

/// Poll `cond` every few ms until it holds or `timeout` passes.
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

/// True if `pid` is gone or a zombie (an orphan waits for init to reap it).
pub fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("Z")
        }
    }
}

pub const MIB: u64 = 1024 * 1024;

/// A walled spawn spec: workspace `<dir>/ws`, a minimal env.
pub fn walled_spec(name: &str, argv: &[&str], limits: Limits, dir: &Path) -> SpawnSpec {
    let mut s = spec(name, argv, limits);
    let mut walls = stockade_sandbox::Walls::new(dir.join("ws"));
    walls.tmp_size = 16 * MIB;
    walls.hostname = "walled-test".into();
    s.walls = Some(walls);
    s.env = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), "/workspace".into()),
    ];
    s
}

/// Run a walled spec to its end: (stdout, stderr, status).
pub async fn run_walled(
    sandbox: &Sandbox,
    s: SpawnSpec,
) -> (String, String, std::process::ExitStatus) {
    use tokio::io::AsyncReadExt;
    let mut agent = sandbox.spawn(s).await.expect("walled spawn");
    let (mut out, mut err) = (agent.take_stdout().unwrap(), agent.take_stderr().unwrap());
    let (mut o, mut e) = (String::new(), String::new());
    let (_, _, status) =
        tokio::join!(out.read_to_string(&mut o), err.read_to_string(&mut e), agent.wait());
    let status = status.unwrap();
    agent.finish(status, stockade_sandbox::EndReason::Exited).await;
    (o, e, status)
}

/// Run an async test body twice: without walls and with them.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn plain() {
                super::$name(false).await
            }
            #[tokio::test]
            async fn walled() {
                super::$name(true).await
            }
        }
    };
}
