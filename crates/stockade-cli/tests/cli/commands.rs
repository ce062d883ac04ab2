//! The real `stockade` binary, as a user runs it: help, spec errors, exit
//! codes, and a session against a real daemon process.

use crate::support::{Daemon, signal, stockade, text};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn help_lists_every_verb() {
    let out = stockade().arg("--help").output().unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!("help", text(&out.stdout));
}

#[test]
fn a_broken_spec_reports_every_error_with_its_place_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("stockade.toml");
    std::fs::write(
        &spec,
        "[service.web]\ncommand = [\"sleep\", \"1\"]\ndepend_on = { db = \"ready\" }\n\n[service.db]\ncommand = []\nlimits = { memory = \"lots\" }\n",
    )
    .unwrap();
    let out = stockade().args(["check", "-f"]).arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("has 3 errors"), "{err}");
    assert!(err.contains("did you mean `depends_on`?"), "{err}");
    assert!(err.contains("stockade.toml:3:1"), "{err}");
    assert!(err.contains("────┬────"), "the offending text is underlined: {err}");
}

#[test]
fn check_refuses_a_bad_alert_rule_with_its_place_and_the_valid_signals() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("stockade.toml");
    std::fs::write(
        &spec,
        "[service.worker]\ncommand = [\"sleep\", \"1\"]\n\n[alert.flappy]\nsignal = \"restart_count\"\nservice = \"worker\"\nwindow = \"1h\"\nop = \">\"\nvalue = 3\n",
    )
    .unwrap();
    let out = stockade().args(["check", "-f"]).arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("`alert.flappy.signal` cannot be \"restart_count\""), "{err}");
    assert!(err.contains("stockade.toml:5:10"), "{err}");
    assert!(err.contains("queue_depth, running, failures, successes, restarts"), "{err}");
}

#[test]
fn init_writes_a_spec_that_checks_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("stockade.toml");
    stockade().args(["init", "-f"]).arg(&spec).assert().success();
    let out = stockade().args(["check", "-f"]).arg(&spec).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(": ok"));
    let again = stockade().args(["init", "-f"]).arg(&spec).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("pass --force"));
}

#[test]
fn a_client_without_a_daemon_exits_3_and_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        stockade().args(["ps", "--socket"]).arg(dir.path().join("none.sock")).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.starts_with("stockade: the daemon is not reachable at"), "{err}");
    assert!(err.contains("hint: start it with `stockade up` or `stockade daemon`"), "{err}");
}

#[test]
fn doctor_json_reports_every_check_with_a_verdict() {
    let out = stockade().args(["doctor", "--json"]).output().unwrap();
    assert!(matches!(out.status.code(), Some(0) | Some(1)), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let checks = report["checks"].as_array().expect("checks");
    let ids: Vec<&str> = checks.iter().filter_map(|c| c["id"].as_str()).collect();
    for id in ["threads", "pid_max", "nofile"] {
        assert!(ids.iter().any(|i| i.starts_with(id)), "{id} missing from {ids:?}");
    }
    for check in checks {
        assert!(
            ["ok", "warn", "fail", "unknown"].contains(&check["status"].as_str().unwrap()),
            "{check}"
        );
    }
}

#[test]
fn up_with_a_missing_program_starts_nothing_and_lists_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("stockade.toml");
    std::fs::write(&spec, "[service.ghost]\ncommand = [\"no-such-program-stockade\"]\n").unwrap();
    let out = stockade()
        .args(["up", "--json", "-f"])
        .arg(&spec)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("command `no-such-program-stockade` is not in the box"));
    assert!(!dir.path().join(".stockade/stockade.sock").exists());
}

#[test]
fn a_session_with_a_real_daemon() {
    if !Path::new("/sys/fs/cgroup").exists() {
        eprintln!("skipped: no cgroup filesystem");
        return;
    }
    let daemon = Daemon::start(
        r#"
[job.hello]
command = ["sh", "-c", "echo hello $0"]

[job.fail]
command = ["sh", "-c", "echo about to fail >&2; exit 3"]

[job.slow]
command = ["sleep", "300"]
"#,
    );
    let ok = daemon.run(&["run", "hello", "--wait", "--", "world"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let id = text(&ok.stdout).trim().to_string();
    let logs = daemon.run(&["logs", &id]);
    assert_eq!(text(&logs.stdout), "hello world\n");

    let failed = daemon.run(&["run", "fail", "--wait"]);
    assert_eq!(failed.status.code(), Some(1));
    let fid = text(&failed.stdout).trim().to_string();
    assert!(text(&failed.stderr).contains(&format!("see `stockade postmortem {fid}`")));
    let pm = daemon.run(&["postmortem", &fid]);
    let pm = text(&pm.stdout);
    assert!(pm.starts_with("fail: exited with status 3"), "{pm}");
    assert!(pm.contains("about to fail"), "{pm}");

    let slow = daemon.run(&["run", "slow"]);
    let sid = text(&slow.stdout).trim().to_string();
    let ps = daemon.run(&["ps", "--json"]);
    let ps: serde_json::Value = serde_json::from_slice(&ps.stdout).unwrap();
    assert!(
        ps["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"].as_u64().map(|i| i.to_string()) == Some(sid.clone()))
    );
    let cancel = daemon.run(&["cancel", &sid]);
    assert!(cancel.status.success(), "{}", text(&cancel.stderr));
    let events = daemon.run(&["events", "--type", "job_state"]);
    assert!(text(&events.stdout).contains("succeeded"), "{}", text(&events.stdout));
    let unknown = daemon.run(&["run", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("no job template named `nope`"));
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn as_pid1_it_reaps_orphans_and_forwards_the_stop_signal() {
    let unshare = Path::new("/usr/bin/unshare");
    if !unshare.exists() || !Path::new("/sys/fs/cgroup").exists() {
        eprintln!("skipped: needs /usr/bin/unshare (util-linux) and root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("stockade.toml");
    std::fs::write(
        &spec,
        "[service.orphaner]\ncommand = [\"sh\", \"-c\", \"for i in 1 2 3; do (sh -c 'sleep 0.2; exit 0' &); done; exec sleep 300\"]\n",
    )
    .unwrap();
    let mut outer = std::process::Command::new(unshare)
        .args(["--fork", "--pid", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_stockade"))
        .args(["up", "--json", "-f"])
        .arg(&spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let children = |pid: u32| -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let init = loop {
        if let Some(init) = children(outer.id()).first().copied() {
            break init;
        }
        assert!(Instant::now() < deadline, "no PID 1 appeared");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The orphans reparent to our PID 1 and exit after 0.2 s; once the
    // service is running for a moment, PID 1's only child is the daemon.
    let socket = dir.path().join(".stockade/stockade.sock");
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let zombies: Vec<u32> = children(init)
        .into_iter()
        .filter(|c| {
            std::fs::read_to_string(format!("/proc/{c}/stat"))
                .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
        })
        .collect();
    assert!(zombies.is_empty(), "unreaped orphans: {zombies:?}");
    assert_eq!(children(init).len(), 1, "only the daemon is left under PID 1");
    signal(init, libc::SIGTERM);
    let status = outer.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the stop signal reached the daemon and it stopped cleanly");
}

#[test]
fn exec_relays_the_commands_status_and_unwalled_units_are_flagged() {
    if !Path::new("/sys/fs/cgroup").exists() {
        eprintln!("skipped: no cgroup filesystem");
        return;
    }
    let daemon = Daemon::start(
        r#"
[service.legacy]
command = ["sleep", "300"]
isolation = "none"

[service.walled]
command = ["sleep", "300"]
"#,
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let ps = daemon.run(&["ps", "--json"]);
        let ps: serde_json::Value = serde_json::from_slice(&ps.stdout).unwrap_or_default();
        let pids =
            ps["services"].as_array().map_or(0, |s| s.iter().filter(|r| r["pid"].is_u64()).count());
        if pids == 2 {
            assert_eq!(ps["services"][0]["isolation"], "none", "{ps}");
            assert_eq!(ps["services"][1]["isolation"], "walls", "{ps}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "services did not start: {ps}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ps = text(&daemon.run(&["ps"]).stdout);
    let legacy = ps.lines().find(|l| l.starts_with("legacy[0]")).unwrap();
    let walled = ps.lines().find(|l| l.starts_with("walled[0]")).unwrap();
    assert!(legacy.contains("UNWALLED") && !walled.contains("UNWALLED"), "{ps}");
    let status = text(&daemon.run(&["status"]).stdout);
    assert!(status.contains("UNWALLED service legacy"), "{status}");
    let check = text(&daemon.run(&["check"]).stdout);
    assert!(check.contains("UNWALLED service legacy"), "{check}");
    let doctor = daemon.run(&["doctor", "--json"]);
    let doctor: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let unwalled = doctor["checks"].as_array().unwrap().iter().find(|c| c["id"] == "unwalled");
    let unwalled = unwalled.expect("doctor has an unwalled check for the spec");
    assert_eq!(unwalled["status"], "warn", "{unwalled}");
    assert!(unwalled["message"].as_str().unwrap().contains("service legacy"), "{unwalled}");

    let out = daemon.run(&["exec", "legacy", "--", "sh", "-c", "echo in the box; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "in the box\n");
    let json = daemon.run(&["exec", "legacy", "--json", "--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(json.status.code(), Some(137));
    let cause: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(cause["cause"]["kind"], "signaled");
    assert_eq!(cause["cause"]["signal"], 9);
    let piped = stockade()
        .arg("-f")
        .arg(&daemon.spec)
        .args(["exec", "-i", "legacy", "--", "tr", "a-z", "A-Z"])
        .write_stdin("shout\n")
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(text(&piped.stdout), "SHOUT\n", "{}", text(&piped.stderr));
    let missing = daemon.run(&["exec", "legacy", "--", "no-such-program-stockade"]);
    assert_eq!(missing.status.code(), Some(127), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("not in the box's PATH"), "{}", text(&missing.stderr));
    let nobody = daemon.run(&["exec", "nope", "--", "true"]);
    assert_eq!(nobody.status.code(), Some(1));
    assert!(text(&nobody.stderr).contains("no service named `nope`"), "{}", text(&nobody.stderr));
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn status_lists_a_rule_firing_from_a_real_crash_loop() {
    let daemon = Daemon::start(
        r#"
[monitor]
interval = "200ms"

[service.crashy]
command = ["sh", "-c", "sleep 0.2; exit 3"]
restart = "always"
backoff = { initial = "50ms", max = "100ms", jitter = 0.0 }
start_limit = { burst = 1000, interval = "60s" }
limits = { pids = 16 }

[alert.flappy]
signal = "restarts"
service = "crashy"
window = "1m"
op = ">"
value = 2
"#,
    );
    // Block on the event stream for the firing (the board is updated before
    // the event is journaled, so `status` after it must list the alert).
    let mut follow = std::process::Command::new(env!("CARGO_BIN_EXE_stockade"))
        .arg("-f")
        .arg(&daemon.spec)
        .args(["events", "-F", "--type", "alert_firing", "--since", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = follow.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // Still ours: `done` is set before the child is reaped.
            signal(pid, libc::SIGKILL);
        })
    };
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(follow.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    signal(pid, libc::SIGTERM);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = follow.wait();
    watchdog.join().unwrap();
    assert!(
        line.contains(
            "crashy  alert flappy firing: restarts{service=crashy} = 3 in the last 1m (> 2)"
        ),
        "{line:?}"
    );
    let status = text(&daemon.run(&["status"]).stdout);
    let alerts: Vec<&str> = status.lines().filter(|l| l.starts_with("ALERT")).collect();
    assert_eq!(alerts.len(), 1, "{status}");
    // "for 1s" depends on timing; the rest is what users see.
    let (head, rest) = alerts[0].split_once(" for ").unwrap();
    let rest = rest.split_once(": ").unwrap().1;
    insta::assert_snapshot!("status_alert_line", format!("{head} for …: {rest}"));
    let json: serde_json::Value =
        serde_json::from_slice(&daemon.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(json["alerts"][0]["alert"], "flappy");
    daemon.stop();
}
