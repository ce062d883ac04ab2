//! `stockade top` against a real daemon process: one plain frame for scripts,
//! and the live view inside a real pseudo-terminal (openpty), its screen
//! rebuilt from the bytes it writes, driven by keys, and the terminal checked
//! to be back in cooked mode on the main screen after it quits.

use crate::support::{Daemon, signal, text, wait_until};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SPEC: &str = r#"
[defaults.limits]
memory = "64MiB"
pids = 50

[service.web]
command = ["sleep", "300"]
replicas = 2

[service.worker]
command = ["sleep", "300"]
"#;

/// `stockade top --once` until every service replica is running with
/// usage to show; returns that frame.
fn wait_until_running(daemon: &Daemon) -> String {
    wait_until(Duration::from_secs(30), "every replica running with usage", || {
        let out = Command::new(env!("CARGO_BIN_EXE_stockade"))
            .args(["top", "--once", "-f"])
            .arg(&daemon.spec)
            .output()
            .unwrap();
        let frame = text(&out.stdout);
        let ready = ["web[0]", "web[1]", "worker[0]"].iter().all(|name| {
            frame.lines().any(|l| l.contains(name) && l.contains("running") && l.contains("/ 50 ("))
        });
        if out.status.success() && ready {
            Ok(frame)
        } else {
            Err(format!("{frame}{}", text(&out.stderr)))
        }
    })
}

/// A child running on the slave side of a fresh pseudo-terminal; everything
/// it writes is collected from the master side by a reader thread.
pub(crate) struct PtyChild {
    child: Option<Child>,
    master: OwnedFd,
    /// The parent's own handle on the slave, to read the terminal's mode.
    slave: Option<OwnedFd>,
    output: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl PtyChild {
    pub(crate) fn spawn(args: &[&std::ffi::OsStr]) -> PtyChild {
        PtyChild::spawn_sized(args, (40, 140))
    }

    /// [`PtyChild::spawn`] on a terminal of `(rows, cols)`.
    pub(crate) fn spawn_sized(args: &[&std::ffi::OsStr], (rows, cols): (u16, u16)) -> PtyChild {
        let (mut master, mut slave) = (-1, -1);
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two fds into the out-pointers; name and
        // termios may be null.
        let rc = unsafe {
            libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size)
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds were just opened by openpty and are owned here only.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut command = Command::new(env!("CARGO_BIN_EXE_stockade"));
        command
            .args(args)
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                // A session of its own with the pty as controlling terminal,
                // as a login shell would give it (crossterm may open /dev/tty).
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        drop(command);
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        let mut from_master = std::fs::File::from(master.try_clone().unwrap());
        // Reads until EIO, which comes once every slave fd is closed.
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = from_master.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        PtyChild { child: Some(child), master, slave: Some(slave), output, reader: Some(reader) }
    }

    pub(crate) fn output(&self) -> String {
        text(&self.output.lock().unwrap())
    }

    /// Every byte it wrote so far.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.output.lock().unwrap().clone()
    }

    pub(crate) fn send(&self, keys: &[u8]) {
        // SAFETY: writing a live buffer to our own master fd.
        let n = unsafe { libc::write(self.master.as_raw_fd(), keys.as_ptr().cast(), keys.len()) };
        assert_eq!(n, keys.len() as isize, "write to the pty master");
    }

    /// The local-mode flags of the terminal (ICANON, ECHO, ISIG...).
    pub(crate) fn lflag(&self) -> libc::tcflag_t {
        let fd = self.slave.as_ref().expect("slave still open").as_raw_fd();
        // SAFETY: tcgetattr fills a termios we own from a tty fd we own.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(fd, &mut t), 0, "tcgetattr");
            t.c_lflag
        }
    }

    /// Poll the screen until `what` holds, or fail with the screen.
    pub(crate) fn wait_for(&self, what: &str, cond: impl Fn(&Screen) -> bool) -> Screen {
        wait_until(Duration::from_secs(20), what, || {
            let screen = Screen::from_output(&self.output());
            if cond(&screen) { Ok(screen) } else { Err(format!("screen:\n{screen}")) }
        })
    }

    pub(crate) fn wait_exit(&mut self) -> Option<i32> {
        let output = self.output.clone();
        let child = self.child.as_mut().expect("not reaped yet");
        let status = wait_until(Duration::from_secs(20), "the child to exit", || {
            match child.try_wait().unwrap() {
                Some(status) => Ok(status),
                None => Err(format!("output:\n{}", text(&output.lock().unwrap()))),
            }
        });
        self.child = None;
        status.code()
    }

    /// Close our slave handle so the reader sees EIO, and join it.
    pub(crate) fn finish(&mut self) {
        self.slave = None;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for PtyChild {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), libc::SIGKILL);
            let _ = child.wait();
        }
        self.finish();
    }
}

/// Just enough of a terminal to rebuild what a full-screen program shows:
/// printable text, cursor moves (`CSI row;col H`, CR, LF) and `CSI 2 J`;
/// colours and modes are ignored. The alternate screen is not modelled.
pub(crate) struct Screen {
    rows: Vec<Vec<char>>,
}

impl Screen {
    const ROWS: usize = 40;
    const COLS: usize = 140;

    fn from_output(output: &str) -> Screen {
        let blank = || vec![vec![' '; Self::COLS]; Self::ROWS];
        let mut rows = blank();
        let (mut row, mut col) = (0usize, 0usize);
        let mut chars = output.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\x1b' => match chars.next() {
                    Some('[') => {
                        let mut params = String::new();
                        let mut last = None;
                        for p in chars.by_ref() {
                            if ('\x40'..='\x7e').contains(&p) {
                                last = Some(p);
                                break;
                            }
                            params.push(p);
                        }
                        match last {
                            Some('H') => {
                                let mut it =
                                    params.split(';').map(|n| n.parse::<usize>().unwrap_or(1));
                                row = it.next().unwrap_or(1).saturating_sub(1);
                                col = it.next().unwrap_or(1).saturating_sub(1);
                            }
                            Some('J') if params == "2" => rows = blank(),
                            _ => {}
                        }
                    }
                    // OSC: up to BEL or ST.
                    Some(']') => {
                        for p in chars.by_ref() {
                            if p == '\x07' || p == '\\' {
                                break;
                            }
                        }
                    }
                    _ => {}
                },
                '\r' => col = 0,
                '\n' => row += 1,
                c if c >= ' ' => {
                    if row < Self::ROWS && col < Self::COLS {
                        rows[row][col] = c;
                    }
                    col += 1;
                }
                _ => {}
            }
        }
        Screen { rows }
    }

    fn line(&self, n: usize) -> String {
        self.rows[n].iter().collect::<String>().trim_end().to_string()
    }

    pub(crate) fn contains(&self, needle: &str) -> bool {
        (0..Self::ROWS).any(|n| self.line(n).contains(needle))
    }

    /// The line that holds `needle`.
    fn line_with(&self, needle: &str) -> Option<String> {
        (0..Self::ROWS).map(|n| self.line(n)).find(|l| l.contains(needle))
    }
}

impl std::fmt::Display for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for n in 0..Self::ROWS {
            writeln!(f, "{}", self.line(n))?;
        }
        Ok(())
    }
}

fn have_cgroups() -> bool {
    if Path::new("/sys/fs/cgroup").exists() {
        return true;
    }
    eprintln!("skipped: no cgroup filesystem for the daemon's boxes");
    false
}

#[test]
fn once_prints_every_run_with_its_usage_against_its_limits() {
    if !have_cgroups() {
        return;
    }
    let daemon = Daemon::start(SPEC);
    let frame = wait_until_running(&daemon);
    let header = frame.lines().find(|l| l.contains("NAME")).expect("a table header");
    for column in ["STATE", "PID", "CPU", "MEMORY", "PIDS", "RESTARTS", "UPTIME"] {
        assert!(header.contains(column), "{column} missing from {header}");
    }
    let web = frame.lines().find(|l| l.contains("web[0]")).unwrap();
    assert!(web.contains("/ 64 MiB ("), "memory against its limit: {web}");
    assert!(web.contains("2 / 50 (4%)"), "the agent and its box's init, of 50 allowed: {web}");
    assert!(frame.contains("latest events"), "{frame}");
    assert!(frame.contains("worker[0]  running"), "the state change is in the events: {frame}");
    assert!(!frame.contains('\x1b'), "plain text only: {frame:?}");
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn live_view_in_a_pty_shows_usage_sorts_on_keys_and_restores_the_terminal() {
    if !have_cgroups() {
        return;
    }
    let daemon = Daemon::start(SPEC);
    wait_until_running(&daemon);
    let mut top = PtyChild::spawn(&["top".as_ref(), "-f".as_ref(), daemon.spec.as_os_str()]);
    let cooked = libc::ICANON | libc::ECHO;
    let screen = top.wait_for("every replica with usage", |s| {
        ["web[0]", "web[1]", "worker[0]"]
            .iter()
            .all(|n| s.line_with(n).is_some_and(|l| l.contains("2 / 50 (")))
    });
    assert!(screen.line(0).contains("sort: cpu"), "{screen}");
    assert!(screen.contains("CPU▼"), "{screen}");
    assert!(screen.contains("latest events"), "{screen}");
    assert!(top.output().contains("\x1b[?1049h"), "it entered the alternate screen");
    assert_eq!(top.lflag() & cooked, 0, "raw mode while the view runs");

    top.send(b"m");
    let screen = top.wait_for("the memory sort", |s| s.line(0).contains("sort: memory"));
    assert!(screen.contains("MEMORY▼"), "{screen}");
    assert!(!screen.contains("CPU▼"), "{screen}");

    top.send(b"q");
    assert_eq!(top.wait_exit(), Some(0), "{}", top.output());
    assert_eq!(top.lflag() & cooked, cooked, "the terminal is back in cooked mode with echo");
    top.finish();
    let output = top.output();
    let left = output.rfind("\x1b[?1049l").expect("it left the alternate screen");
    assert!(left > output.rfind("\x1b[?1049h").unwrap(), "and left it last");
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn without_a_daemon_it_exits_3_before_touching_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("none.sock");
    let mut top = PtyChild::spawn(&["top".as_ref(), "--socket".as_ref(), socket.as_os_str()]);
    assert_eq!(top.wait_exit(), Some(3));
    top.finish();
    let output = top.output();
    assert!(output.contains("stockade: the daemon is not reachable at"), "{output}");
    assert!(output.contains("hint: start it with"), "{output}");
    assert!(!output.contains("\x1b[?1049h"), "no alternate screen on a failed start: {output:?}");
}

#[test]
fn json_prints_one_snapshot_of_every_replica_and_running_job_and_exits() {
    if !have_cgroups() {
        return;
    }
    let daemon = Daemon::start(&format!("{SPEC}\n[job.slow]\ncommand = [\"sleep\", \"300\"]\n"));
    wait_until_running(&daemon);
    let submitted = daemon.run(&["run", "slow"]);
    assert!(submitted.status.success(), "{}", text(&submitted.stderr));
    let id: u64 = text(&submitted.stdout).trim().parse().unwrap();
    let snapshot = wait_until(Duration::from_secs(30), "the job's usage in top --json", || {
        let out = daemon.run(&["top", "--json", "--sort", "name"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))?;
        let rows = json["rows"].as_array().cloned().unwrap_or_default();
        let job_usage = rows.iter().any(|r| r["job"] == id && r["pids"].is_u64());
        if out.status.success() && rows.len() == 4 && job_usage {
            Ok(json)
        } else {
            Err(json.to_string())
        }
    });
    eprintln!("{}", serde_json::to_string_pretty(&snapshot).unwrap());
    assert_eq!(snapshot["sort"], "name");
    assert!(snapshot["daemon_pid"].is_u64() && snapshot["sandbox"].is_string(), "{snapshot}");
    let rows = snapshot["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "job:".to_string() + &id.to_string() + " (slow)",
            "web[0]".into(),
            "web[1]".into(),
            "worker[0]".into()
        ]
    );
    for r in rows {
        assert_eq!(r["state"], "running", "{r}");
        assert!(r["pid"].is_u64(), "{r}");
        assert_eq!(r["memory_limit_bytes"], 64 << 20, "{r}");
        assert!(r["memory_bytes"].as_u64().is_some_and(|m| m > 0), "{r}");
        assert_eq!(r["pids_limit"], 50, "{r}");
        assert_eq!(r["pids"], 2, "the agent and its box's init: {r}");
        assert!(r["cpu_percent"].is_number(), "two samples give a rate: {r}");
        assert!(r["uptime_ms"].is_u64(), "{r}");
    }
    assert_eq!((rows[0]["kind"].as_str(), rows[0]["unit"].as_str()), (Some("job"), Some("slow")));
    assert!(rows[0]["restarts"].is_null());
    assert_eq!((rows[1]["kind"].as_str(), rows[1]["replica"].as_u64()), (Some("replica"), Some(0)));
    assert_eq!(rows[1]["restarts"], 0);
    let help = text(&daemon.run(&["top", "--help"]).stdout);
    assert!(
        help.contains("--json") && help.contains("Print one snapshot as JSON and exit"),
        "{help}"
    );
    assert!(daemon.run(&["cancel", &id.to_string()]).status.success());
    assert_eq!(daemon.stop(), Some(0));
}
