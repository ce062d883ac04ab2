//! `stockade exec -it` in a real pseudo-terminal: the command gets a tty of
//! this terminal's size, keys reach it, and the local terminal is raw during
//! the session and cooked again after — also when the command fails.

use crate::support::Daemon;
use crate::top::PtyChild;
use std::time::{Duration, Instant};

const SPEC: &str = r#"
[service.legacy]
command = ["sleep", "300"]
isolation = "none"
"#;

fn wait_running(daemon: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ps = daemon.run(&["ps", "--json"]);
        let ps: serde_json::Value = serde_json::from_slice(&ps.stdout).unwrap_or_default();
        if ps["services"][0]["pid"].is_u64() {
            return;
        }
        assert!(Instant::now() < deadline, "the service did not start: {ps}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn exec_it_gives_the_command_a_terminal_and_restores_ours() {
    if !std::path::Path::new("/sys/fs/cgroup").exists() {
        eprintln!("skipped: no cgroup filesystem");
        return;
    }
    let daemon = Daemon::start(SPEC);
    wait_running(&daemon);
    let cooked = libc::ICANON | libc::ECHO;
    let spec = daemon.spec.as_os_str();
    let script = "stty size; printf 'ready> '; read line; echo \"got $line\"; exit 5";
    let mut exec = PtyChild::spawn(&[
        "-f".as_ref(),
        spec,
        "exec".as_ref(),
        "-it".as_ref(),
        "legacy".as_ref(),
        "--".as_ref(),
        "sh".as_ref(),
        "-c".as_ref(),
        script.as_ref(),
    ]);
    exec.wait_for("the prompt", |s| s.contains("ready>"));
    assert!(exec.output().contains("40 140"), "the box's tty has our size: {}", exec.output());
    assert_eq!(exec.lflag() & cooked, 0, "raw mode during the session");
    exec.send(b"hello\r");
    assert_eq!(exec.wait_exit(), Some(5), "{}", exec.output());
    assert!(exec.output().contains("got hello"), "{}", exec.output());
    assert_eq!(exec.lflag() & cooked, cooked, "the terminal is cooked again");
    exec.finish();
    assert_eq!(daemon.stop(), Some(0));
}
