//! [`TestDaemon`]: the real daemon, in-process.

use crate::api::Api;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use stockade_daemon::{Config, Running};
use stockade_engine::ShutdownReport;
use stockade_sandbox::{ParentDeath, Sandbox, SandboxConfig};
use stockade_spec::Spec;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A daemon serving a spec from a tempdir. Call [`TestDaemon::stop`] at the
/// end; if a test fails first, dropping it kills and removes every box.
pub struct TestDaemon {
    /// The tempdir holding the spec and the state directory.
    pub dir: tempfile::TempDir,
    /// The client of its socket.
    pub api: Api,
    /// What the daemon reported once serving.
    pub running: Running,
    /// The cgroup parent of its boxes (unique per test daemon).
    pub parent: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<ShutdownReport, String>>>,
}

impl TestDaemon {
    /// Start a daemon for `spec_toml` (its `[daemon]` table, if any, is
    /// replaced: state goes to the tempdir). `name` makes the cgroup parent
    /// recognisable.
    pub async fn start(name: &str, spec_toml: &str) -> TestDaemon {
        let dir = tempfile::tempdir().expect("tempdir");
        TestDaemon::start_in(name, spec_toml, dir).await
    }

    /// Like [`TestDaemon::start`], in an existing directory (to restart a
    /// daemon on the same state).
    pub async fn start_in(name: &str, spec_toml: &str, dir: tempfile::TempDir) -> TestDaemon {
        TestDaemon::start_with(name, "", spec_toml, dir).await
    }

    /// Like [`TestDaemon::start_in`], with extra `[daemon]` keys (e.g.
    /// `synchronous = "normal"`), one per line.
    pub async fn start_with(
        name: &str,
        daemon_keys: &str,
        spec_toml: &str,
        dir: tempfile::TempDir,
    ) -> TestDaemon {
        let parent = format!(
            "stockade-test-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.path().join("stockade.toml");
        let spec_text = format!("[daemon]\nstate_dir = \"state\"\n{daemon_keys}\n\n{spec_toml}");
        std::fs::write(&path, &spec_text).expect("write spec");
        let spec = Spec::parse(&spec_text, &path, &|_| None)
            .unwrap_or_else(|e| panic!("test spec is invalid:\n{}", e.render()));
        let socket = spec.daemon.socket_path().expect("a unix socket").to_path_buf();
        let config = Config {
            sandbox: SandboxConfig { parent: parent.clone(), ..SandboxConfig::default() },
            parent_death: ParentDeath::Kill,
            ..Config::new(spec)
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            stockade_daemon::run(config, shutdown, Some(ready_tx))
                .await
                .map_err(|e| format!("{e:#}"))
        });
        let running = match ready_rx.await {
            Ok(running) => running,
            Err(_) => panic!("daemon failed to start: {:?}", task.await),
        };
        TestDaemon {
            dir,
            api: Api::new(socket),
            running,
            parent,
            shutdown: Some(stop_tx),
            task: Some(task),
        }
    }

    /// The spec file.
    pub fn spec_path(&self) -> PathBuf {
        self.dir.path().join("stockade.toml")
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The socket.
    pub fn socket(&self) -> PathBuf {
        self.state_dir().join("stockade.sock")
    }

    /// Stop the daemon as SIGTERM would, and return its report.
    pub async fn stop(mut self) -> Result<ShutdownReport, String> {
        let report = self.finish().await;
        // Removing the state directory (the store, every log) is blocking
        // I/O: on the blocking pool, not on the test's runtime.
        let fresh = tempfile::tempdir().expect("tempdir");
        let dir = std::mem::replace(&mut self.dir, fresh);
        let _ = tokio::task::spawn_blocking(move || drop(dir)).await;
        report
    }

    /// Stop the daemon and keep its directory (to start another on it).
    pub async fn stop_keep(mut self) -> (Result<ShutdownReport, String>, tempfile::TempDir) {
        let report = self.finish().await;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        (report, dir)
    }

    async fn finish(&mut self) -> Result<ShutdownReport, String> {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().ok_or("already stopped")?;
        task.await.map_err(|e| format!("daemon task panicked: {e}"))?
    }

    /// The cgroup directory of this daemon's parent in a v1 hierarchy.
    pub fn parent_dir(&self, controller: &str) -> PathBuf {
        stockade_sandbox::own_cgroup_dir(controller)
            .unwrap_or_else(|| Path::new("/sys/fs/cgroup").join(controller))
            .join(&self.parent)
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // The test failed before stop(): kill and remove every box.
            let parent = self.parent.clone();
            let cleanup = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async {
                        let config = SandboxConfig { parent, ..SandboxConfig::default() };
                        if let Ok(sandbox) = Sandbox::new(config) {
                            let _ = sandbox.remove_subtree();
                        }
                    });
                }
            });
            let _ = cleanup.join();
        }
    }
}
