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
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Write `spec_body` to a tempdir spec and start a daemon on it; returns
    /// once its socket exists.
    pub fn start(spec_body: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("stockade.toml");
        std::fs::write(&spec, spec_body).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_stockade"))
            .args(["daemon", "-f"])
            .arg(&spec)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let socket = dir.path().join(".stockade/stockade.sock");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "the daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child: Some(child), spec, _dir: dir }
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
