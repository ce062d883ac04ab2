//! Shared by the CLI tests: the binary, and a daemon process per test.

use assert_cmd::Command;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn stockade() -> Command {
    Command::cargo_bin("stockade").expect("the binary is built")
}

/// Bytes as text, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Poll `check` every 50 ms for up to `limit`; panic naming `what` with the
/// check's last word. The one wait loop of the CLI tests.
pub fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => {
                panic!("{what}: not within {limit:?}: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Send `sig` to a process this test spawned.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a pid this test spawned and has not reaped.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// A `stockade daemon` process for one test; SIGTERM on drop if the test
/// failed first.
pub struct Daemon {
    child: Option<Child>,
    /// The spec file it serves.
    pub spec: PathBuf,
    /// Its stderr (the daemon's log).
    pub log: PathBuf,
    _dir: tempfile::TempDir,
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
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_stockade"))
            .args([verb, "-f"])
            .arg(&spec)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let socket = dir.path().join(".stockade/stockade.sock");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "the daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child: Some(child), spec, log, _dir: dir }
    }

    /// Start another daemon on the same spec and state directory (the
    /// previous one must have exited); returns once it serves.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the previous daemon still runs");
        let socket = self.state_dir().join("stockade.sock");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_stockade"))
            .args(["daemon", "-f"])
            .arg(&self.spec)
            .stdout(Stdio::null())
            .stderr(std::fs::OpenOptions::new().append(true).open(&self.log).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not start again");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.spec.parent().unwrap().join(".stockade")
    }

    /// What the daemon logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait up to `timeout` for the daemon to exit on its own; its status.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
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
            std::thread::sleep(Duration::from_millis(20));
        }
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

    /// SIGTERM and wait, keeping the state directory for [`Daemon::restart`];
    /// the daemon's exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        signal(child.id(), libc::SIGTERM);
        child.wait().ok()?.code()
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
        if let Some(mut child) = self.child.take() {
            signal(child.id(), libc::SIGTERM);
            let _ = child.wait();
        }
    }
}
