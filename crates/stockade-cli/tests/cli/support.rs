//! THE harness of the CLI tests (one per test binary): the binary
//! ([`stockade`]), a daemon process per test ([`Daemon`]), the one wait
//! loop ([`wait_until`]), the one HTTP client ([`Api`]), spec tempdirs
//! ([`TestEnv`]) and the cleanup of what a test leaves on the host
//! ([`BoxSweeper`], [`Leftovers`]). No test file has its own.

// Its parts live beside it (`support_http.rs`, `support_boxes.rs`,
// `support_env.rs`; the workspace's lints want no `support/` directory next
// to this file); tests import everything from here.
pub use crate::support_boxes::{BoxSweeper, Leftovers, Proc, box_pids};
pub use crate::support_env::{TestEnv, no_real_boxes, skip_reason};
pub use crate::support_http::{Api, id_of};

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn stockade() -> Command {
    Command::cargo_bin("stockade").expect("the binary is built")
}

/// Bytes as text, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Send `sig` to a process this test spawned.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a pid this test spawned and has not reaped.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Call `check` every 20 ms until it returns `Ok`, and return that value;
/// after `within`, panic naming `what` and the last complaint.
pub fn wait_until<T>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let last = match check() {
            Ok(value) => return value,
            Err(e) => e,
        };
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}: {last}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How to start a daemon process ([`Daemon::launch`]).
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// The verb: `daemon` (the default) or `up`.
    pub verb: Option<String>,
    /// Arguments after `VERB -f SPEC` (e.g. `--new-store`).
    pub args: Vec<String>,
    /// Extra environment (e.g. `STOCKADE_LOG=info`).
    pub env: Vec<(String, String)>,
    /// Append to the log instead of starting it afresh.
    pub append: bool,
}

/// A `stockade daemon` (or `up`) process for one test. On drop, if it
/// still runs (the test failed first): SIGCONT, SIGTERM, and SIGKILL after
/// 10 s, by pid, then reaped.
pub struct Daemon {
    child: Option<Child>,
    /// Its pid (kept after it exits).
    pub pid: u32,
    /// The spec file it serves.
    pub spec: PathBuf,
    /// Its stderr (the daemon's log).
    pub log: PathBuf,
    /// Its socket.
    pub socket: PathBuf,
    /// A client of its socket.
    pub api: Api,
    launch: Launch,
    _dir: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Write `spec_body` to a tempdir spec and start a daemon on it; returns
    /// once its socket exists.
    pub fn start(spec_body: &str) -> Daemon {
        Daemon::start_verb(spec_body, "daemon")
    }

    /// [`Daemon::start`] with `verb` (`daemon` or `up`).
    pub fn start_verb(spec_body: &str, verb: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("stockade.toml");
        std::fs::write(&spec, spec_body).unwrap();
        let log = dir.path().join("daemon.stderr");
        let socket = dir.path().join(".stockade/stockade.sock");
        let launch = Launch { verb: Some(verb.to_owned()), ..Launch::default() };
        let mut daemon = Daemon::launch(&spec, socket, log, launch);
        daemon._dir = Some(dir);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !daemon.socket.exists() {
            assert!(Instant::now() < deadline, "the daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    /// A `stockade daemon` on `env`'s spec, logging to `NAME.log` in its
    /// tempdir at `info`; returns at once (see [`Daemon::wait_live`]).
    pub fn on(env: &TestEnv, name: &str) -> Daemon {
        Daemon::on_with(env, name, &[], &[])
    }

    /// [`Daemon::on`] with extra arguments and environment.
    pub fn on_with(env: &TestEnv, name: &str, args: &[&str], vars: &[(&str, &str)]) -> Daemon {
        let mut launch = Launch {
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec![("STOCKADE_LOG".into(), "info".into())],
            ..Launch::default()
        };
        launch.env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let log = env.dir.path().join(format!("{name}.log"));
        Daemon::launch(&env.spec, env.socket(), log, launch)
    }

    /// Spawn a daemon on `spec` (whose socket is `socket`), stderr to `log`.
    pub fn launch(spec: &Path, socket: PathBuf, log: PathBuf, launch: Launch) -> Daemon {
        let child = Daemon::spawn(spec, &log, &launch);
        Daemon {
            pid: child.id(),
            child: Some(child),
            spec: spec.to_path_buf(),
            log,
            api: Api::new(&socket),
            socket,
            launch,
            _dir: None,
        }
    }

    fn spawn(spec: &Path, log: &Path, launch: &Launch) -> Child {
        let stderr = if launch.append {
            std::fs::OpenOptions::new().create(true).append(true).open(log)
        } else {
            std::fs::File::create(log)
        };
        std::process::Command::new(env!("CARGO_BIN_EXE_stockade"))
            .args([launch.verb.as_deref().unwrap_or("daemon"), "-f"])
            .arg(spec)
            .args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr.expect("the daemon's log"))
            .spawn()
            .expect("spawn stockade")
    }

    /// Start another `stockade daemon` on the same spec and state directory
    /// (the previous one must have exited), appending to the same log;
    /// returns once it serves.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the previous daemon still runs");
        let launch = Launch { verb: Some("daemon".into()), append: true, ..self.launch.clone() };
        let child = Daemon::spawn(&self.spec, &self.log, &launch);
        self.pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not start again");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The state directory (the socket's).
    pub fn state_dir(&self) -> PathBuf {
        self.socket.parent().expect("the socket is in the state directory").to_path_buf()
    }

    /// What the daemon logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the daemon logged so far (as [`Daemon::log_text`]).
    pub fn log(&self) -> String {
        self.log_text()
    }

    /// Send `sig` to the daemon.
    pub fn signal(&self, sig: i32) {
        if self.child.is_some() {
            signal(self.pid, sig);
        }
    }

    /// Wait until `/health/live` answers 200; how long it took. Panics with
    /// the log if the daemon exits first or `within` passes.
    pub fn wait_live(&mut self, within: Duration) -> Duration {
        let t = Instant::now();
        let log = self.log.clone();
        let api = Api::with_timeout(&self.socket, Duration::from_secs(2));
        let child = self.child.as_mut().expect("daemon running");
        wait_until(within, "the daemon answering /health/live", || {
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("the daemon exited early ({status}):\n{text}");
            }
            match api.get("/health/live") {
                Ok((200, _)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
        t.elapsed()
    }

    /// Wait up to `timeout` for the daemon to exit on its own; its status.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().ok()? {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Wait up to `within` for the daemon to exit; panics (with its log) if
    /// it does not.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        match self.wait(within) {
            Some(status) => status,
            None => panic!("the daemon did not exit within {within:?}:\n{}", self.log_text()),
        }
    }

    /// SIGKILL and reap; its status.
    pub fn kill_9(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        child.kill().expect("SIGKILL the daemon");
        child.wait().expect("reap the daemon")
    }

    /// SIGTERM, and its status within `within`.
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        assert!(self.child.is_some(), "daemon running");
        signal(self.pid, libc::SIGTERM);
        self.wait_exit(within)
    }

    /// [`Daemon::terminate`], timed: how long the exit took, and its code.
    pub fn terminate_timed(&mut self, within: Duration) -> (Duration, Option<i32>) {
        use std::os::unix::process::ExitStatusExt;
        let t = Instant::now();
        let status = self.terminate(within);
        if let Some(sig) = status.signal() {
            eprintln!("the daemon died of signal {sig}");
        }
        (t.elapsed(), status.code())
    }

    /// Run the CLI against this daemon's spec.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        stockade()
            .arg("-f")
            .arg(&self.spec)
            .args(args)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    }

    /// Its resident set size, in KiB (0 once it is gone).
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// SIGTERM, and the daemon's exit code.
    pub fn stop(mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        signal(child.id(), libc::SIGTERM);
        child.wait().ok()?.code()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        signal(child.id(), libc::SIGCONT);
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
