//! Planned stops and upgrades of the real binary (issue 10 items 5 and 6):
//! `down`, `down --drain`, SIGHUP, a second Ctrl-C of `up`, SIGUSR2 and
//! `daemon --upgrade`, and the read-only verbs with the daemon down.
//!
//! Each needs a cgroup filesystem (real boxes) and skips with a printed
//! reason otherwise. Every daemon is a child of the test, stopped by pid.

use crate::support::{BoxSweeper, Daemon, signal, text, wait_until};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

fn no_cgroups() -> bool {
    if Path::new("/sys/fs/cgroup").exists() {
        return false;
    }
    eprintln!("skipped: no cgroup filesystem");
    true
}

fn json(daemon: &Daemon, path: &str) -> Result<Value, String> {
    let (status, body) = daemon.api.get(path).map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    Ok(body)
}

fn submit(daemon: &Daemon, template: &str) -> u64 {
    let out = daemon.run(&["run", template]);
    assert!(out.status.success(), "run {template}: {}", text(&out.stderr));
    text(&out.stdout).trim().parse().expect("run prints the job id")
}

fn job_state(daemon: &Daemon, id: u64) -> String {
    json(daemon, &format!("/api/jobs/{id}"))
        .map(|j| j["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[test]
fn down_stops_a_running_daemon_and_it_exits_0() {
    if no_cgroups() {
        return;
    }
    let mut daemon = Daemon::start("[service.idle]\ncommand = [\"sleep\", \"300\"]\n");
    wait_until(Duration::from_secs(20), "the service runs", || {
        let status = json(&daemon, "/api/status")?;
        status["services"][0]["pid"].as_u64().ok_or(status.to_string())
    });
    let down = daemon.run(&["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(text(&down.stdout).trim(), format!("stopped: daemon pid {}", daemon.pid()));
    let status = daemon.wait(Duration::from_secs(30)).expect("the daemon exited");
    assert_eq!(status.code(), Some(0), "{}", daemon.log_text());
}

#[test]
fn down_drain_lets_a_running_job_finish_and_refuses_new_submissions() {
    if no_cgroups() {
        return;
    }
    let mut daemon =
        Daemon::start("[job.work]\ncommand = [\"sh\", \"-c\", \"sleep 2; echo finished\"]\n");
    let id = submit(&daemon, "work");
    wait_until(Duration::from_secs(20), "the job runs", || {
        let state = job_state(&daemon, id);
        (state == "running").then_some(()).ok_or(state)
    });
    let spec = daemon.spec.clone();
    let down = std::thread::spawn(move || {
        crate::support::stockade()
            .arg("-f")
            .arg(&spec)
            .args(["down", "--drain=60s"])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    });
    wait_until(Duration::from_secs(10), "the daemon draining", || {
        let log = daemon.log_text();
        log.contains("draining: admitting nothing new").then_some(()).ok_or(log)
    });
    let (status, refused) = daemon.api.post("/api/jobs", &json!({"template": "work"})).unwrap();
    assert_eq!(status, 503, "a submission while draining: {refused}");
    assert_eq!(refused["code"], "draining", "{refused}");
    assert_eq!(job_state(&daemon, id), "running", "the drain stopped the running job");
    let cli = daemon.run(&["run", "work"]);
    assert_eq!(cli.status.code(), Some(3), "a refused submission is exit 3");
    assert!(text(&cli.stderr).contains("draining"), "{}", text(&cli.stderr));

    let down = down.join().unwrap();
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert!(text(&down.stderr).contains("draining"), "{}", text(&down.stderr));
    let status = daemon.wait(Duration::from_secs(30)).expect("the daemon exited");
    assert_eq!(status.code(), Some(0), "{}", daemon.log_text());
    // With the daemon down, `ps -a` reads the store: the job finished on its own.
    let ps = daemon.run(&["ps", "-a", "--json"]);
    assert!(ps.status.success(), "{}", text(&ps.stderr));
    let ps: Value = serde_json::from_slice(&ps.stdout).unwrap();
    let jobs = ps["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "the refused submissions left no job: {ps}");
    assert_eq!(jobs[0]["state"], "succeeded", "{ps}");
    let logs = daemon.run(&["logs", &id.to_string()]);
    assert_eq!(text(&logs.stdout), "finished\n");
}

#[test]
fn sighup_reloads_and_leaves_the_daemon_running() {
    if no_cgroups() {
        return;
    }
    let daemon = Daemon::start("[job.noop]\ncommand = [\"true\"]\n");
    json(&daemon, "/health/live").expect("serving");
    signal(daemon.pid(), libc::SIGHUP);
    wait_until(Duration::from_secs(10), "the SIGHUP log line", || {
        let log = daemon.log_text();
        log.contains("SIGHUP: reloaded").then_some(()).ok_or(log)
    });
    assert_eq!(json(&daemon, "/health/live").unwrap()["status"], "ok");
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn a_second_ctrl_c_of_up_forces_the_stop() {
    if no_cgroups() {
        return;
    }
    // The service ignores SIGTERM and has a minute of grace: only a forced
    // stop ends `up` within seconds.
    let mut up = Daemon::start_verb(
        r#"
[service.stubborn]
command = ["sh", "-c", "trap '' TERM; while :; do sleep 0.2; done"]
stop = { grace = "60s" }
"#,
        "up",
    );
    let pid = wait_until(Duration::from_secs(20), "the service runs", || {
        let status = json(&up, "/api/status")?;
        status["services"][0]["pid"].as_u64().ok_or(status.to_string())
    });
    signal(up.pid(), libc::SIGINT);
    wait_until(Duration::from_secs(10), "the service stopping", || {
        let status = json(&up, "/api/status")?;
        let state = status["services"][0]["state"].as_str().unwrap_or_default().to_owned();
        (state == "stopping").then_some(()).ok_or(state)
    });
    // A person's second Ctrl-C (one within 250 ms is the same interrupt
    // delivered twice, as `timeout -s INT` does).
    std::thread::sleep(Duration::from_millis(400));
    let forced_at = Instant::now();
    signal(up.pid(), libc::SIGINT);
    let status =
        up.wait(Duration::from_secs(20)).expect("a second Ctrl-C ends `up` well within the grace");
    assert!(forced_at.elapsed() < Duration::from_secs(20));
    let log = up.log_text();
    assert!(log.contains("forcing the stop"), "{log}");
    assert_eq!(status.code(), Some(1), "a forced stop is not a clean one: {log}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the agent {pid} outlived the forced stop"
    );
}

#[test]
fn an_upgrade_keeps_the_pid_the_socket_and_the_queue() {
    if no_cgroups() {
        return;
    }
    let mut daemon = Daemon::start(
        r#"
[pool.one]
max_concurrency = 1

[job.hold]
pool = "one"
command = ["sleep", "300"]
"#,
    );
    let first = submit(&daemon, "hold");
    wait_until(Duration::from_secs(20), "the first job runs", || {
        let state = job_state(&daemon, first);
        (state == "running").then_some(()).ok_or(state)
    });
    let queued: Vec<u64> = (0..3).map(|_| submit(&daemon, "hold")).collect();
    let before = json(&daemon, "/api/status").unwrap();
    let pid = daemon.pid();
    assert_eq!(before["pid"].as_u64(), Some(u64::from(pid)));

    signal(pid, libc::SIGUSR2);
    let after = wait_until(Duration::from_secs(30), "the new daemon serves", || {
        let now = json(&daemon, "/api/status")?;
        (now["started_at"] != before["started_at"]).then_some(now.clone()).ok_or(now.to_string())
    });
    assert_eq!(after["pid"].as_u64(), Some(u64::from(pid)), "the upgrade kept the pid");
    assert!(daemon.wait(Duration::from_millis(10)).is_none(), "the process never exited");
    assert_eq!(json(&daemon, "/health/live").unwrap()["status"], "ok");
    for id in &queued {
        let state = job_state(&daemon, *id);
        assert!(state == "queued" || state == "running", "job {id} after the upgrade: {state}");
    }

    // The CLI way: `stockade daemon --upgrade` waits until the same pid
    // serves. The queue as it is now must be there after it. (The running
    // job's box is left for the new daemon; until adoption lands it is
    // reclaimed and ends `lost`, so only the queued ones are checked.)
    let queued: Vec<u64> =
        queued.iter().copied().filter(|id| job_state(&daemon, *id) == "queued").collect();
    assert!(!queued.is_empty(), "nothing queued before the second upgrade");
    let out = daemon.run(&["daemon", "--upgrade"]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), daemon.log_text());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("upgraded: pid {pid} serves again with the binary on disk")
    );
    for id in &queued {
        let state = job_state(&daemon, *id);
        assert!(state == "queued" || state == "running", "job {id} after two upgrades: {state}");
    }
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn read_only_verbs_work_with_the_daemon_down() {
    if no_cgroups() {
        return;
    }
    let mut daemon = Daemon::start(
        r#"
[job.hello]
command = ["sh", "-c", "echo hello $0"]

[job.fail]
command = ["sh", "-c", "echo about to fail >&2; exit 3"]
"#,
    );
    let ok = daemon.run(&["run", "hello", "--wait", "--", "world"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let id = text(&ok.stdout).trim().to_string();
    let failed = daemon.run(&["run", "fail", "--wait"]);
    let fid = text(&failed.stdout).trim().to_string();
    assert!(daemon.run(&["down"]).status.success());
    assert_eq!(daemon.wait(Duration::from_secs(30)).and_then(|s| s.code()), Some(0));

    let state = daemon.state_dir();
    let marker = std::fs::read(state.join("stockade.marker.json")).unwrap();
    let note = format!(
        "stockade: the daemon is not running; showing what the store at {} recorded",
        state.join("stockade.db").display()
    );
    let verbs: [&[&str]; 4] = [&["logs", &id], &["postmortem", &fid], &["events"], &["ps", "-a"]];
    let mut outputs = Vec::new();
    for args in verbs {
        let out = daemon.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(&note), "{args:?}: {}", text(&out.stderr));
        outputs.push(text(&out.stdout));
    }
    assert_eq!(outputs[0], "hello world\n");
    assert!(outputs[1].starts_with("fail: exited with status 3"), "{}", outputs[1]);
    assert!(outputs[1].contains("about to fail"), "{}", outputs[1]);
    assert!(outputs[2].contains("hello") && outputs[2].contains("fail"), "{}", outputs[2]);
    for (job, end) in [(&id, "succeeded"), (&fid, "failed")] {
        let row = outputs[3].lines().find(|l| l.starts_with(job.as_str())).unwrap_or_default();
        assert!(row.contains(end), "job {job} in ps -a: {}", outputs[3]);
    }
    assert_eq!(
        std::fs::read(state.join("stockade.marker.json")).unwrap(),
        marker,
        "a read-only verb rewrote the marker"
    );
}

#[test]
fn sigterm_requeues_running_jobs_by_default_and_leaves_them_with_on_stop_leave() {
    if no_cgroups() {
        return;
    }
    // The template is named after this process, so its boxes are this
    // test's alone: the sweeper removes them on the way out (the left box's
    // empty cgroup too), also when an assertion fails first.
    let template = format!("long-{}", std::process::id());
    let _boxes = BoxSweeper { prefix: format!("{template}.") };
    for on_stop in ["requeue", "leave"] {
        let spec = format!(
            "[daemon]\non_stop = \"{on_stop}\"\n\n[job.{template}]\ncommand = [\"sleep\", \"300\"]\nretries = {{ max = 2 }}\n"
        );
        let mut daemon = Daemon::start(&spec);
        let id = submit(&daemon, &template);
        let pid = wait_until(Duration::from_secs(20), "the job runs", || {
            let job = json(&daemon, &format!("/api/jobs/{id}"))?;
            job["pid"].as_u64().ok_or(job.to_string())
        });
        signal(daemon.pid(), libc::SIGTERM);
        let status = daemon.wait(Duration::from_secs(30)).expect("the daemon exited");
        assert_eq!(status.code(), Some(0), "{on_stop}: {}", daemon.log_text());
        let log = daemon.log_text();
        let ps = daemon.run(&["ps", "--json"]);
        let ps: Value = serde_json::from_slice(&ps.stdout).unwrap();
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        if on_stop == "requeue" {
            assert!(
                log.contains(&format!(
                    "were stopped and will run again when the daemon is back: {id}"
                )),
                "{log}"
            );
            assert!(!alive, "requeue: the job's box was stopped");
            assert_eq!(ps["jobs"][0]["state"], "queued", "{ps}");
        } else {
            assert!(
                log.contains(&format!("left running for the next daemon to adopt: {id}")),
                "{log}"
            );
            assert!(alive, "leave: the job's process {pid} was stopped");
            // Nothing was journaled as ended: the store still has it running.
            assert_eq!(ps["jobs"][0]["state"], "running", "{ps}");
            // The next daemon finds the box (today it reclaims it; with
            // adoption it keeps it), which also removes it.
            daemon.restart();
            wait_until(Duration::from_secs(20), "the left box found by the next daemon", || {
                let job = json(&daemon, &format!("/api/jobs/{id}"))?;
                let found = job["runs"].as_array().is_some_and(|r| r.len() == 2)
                    || job["pid"].as_u64() == Some(pid);
                found.then_some(()).ok_or(job.to_string())
            });
            assert_eq!(daemon.stop(), Some(0));
            if Path::new(&format!("/proc/{pid}")).exists() {
                signal(pid as u32, libc::SIGKILL);
            }
        }
    }
}
