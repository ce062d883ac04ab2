//! `stockade logs` end to end: lines tagged with time and stream by the box
//! (walled init, unwalled relay), a partial and a 1 MiB line, `--tail`,
//! `--since`, `--until`, prefixes (snapshot), a follow that resumes exactly
//! across a SIGKILLed daemon, and a follow across rotations.

use crate::support::{Daemon, signal, text};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn skip() -> bool {
    if !std::path::Path::new("/sys/fs/cgroup").exists() {
        eprintln!("skipped: no cgroup filesystem");
        return true;
    }
    false
}

/// `logs ARGS --json`, parsed.
fn json_lines(daemon: &Daemon, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["logs", "--json"];
    all.extend_from_slice(args);
    let out = daemon.run(&all);
    assert!(out.status.success(), "logs {args:?}: {}", text(&out.stderr));
    text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Join pieces into whole lines: `(stream, text, pieces)`.
fn whole(lines: &[Value]) -> Vec<(String, String, usize)> {
    let mut out: Vec<(String, String, usize)> = Vec::new();
    let mut open: Option<usize> = None;
    for l in lines {
        let stream = l["stream"].as_str().unwrap().to_string();
        let t = l["text"].as_str().unwrap();
        match open {
            Some(i) if out[i].0 == stream => {
                out[i].1.push_str(t);
                out[i].2 += 1;
            }
            _ => out.push((stream, t.to_string(), 1)),
        }
        open = l["partial"].as_bool().unwrap_or(false).then(|| out.len() - 1);
    }
    out
}

fn submit(daemon: &Daemon, template: &str) -> String {
    let out = daemon.run(&["run", template, "--wait"]);
    assert!(out.status.success(), "run {template}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

const MIXED: &str = r#"import sys, time
for i in range(5):
    print(f"out {i}", flush=True); time.sleep(0.03)
    print(f"err {i}", file=sys.stderr, flush=True); time.sleep(0.03)
sys.stdout.write("x" * 1048576 + "\n"); sys.stdout.flush()
sys.stdout.write("no newline"); sys.stdout.flush()
"#;

#[test]
fn both_streams_are_tagged_in_order_with_a_partial_and_a_1_mib_line() {
    if skip() {
        return;
    }
    let script = MIXED.replace('\\', "\\\\").replace('\n', "\\n").replace('"', "\\\"");
    let daemon = Daemon::start(&format!(
        "[job.walled]\ncommand = [\"python3\", \"-c\", \"{script}\"]\n\n[job.loose]\nisolation = \"none\"\ncommand = [\"python3\", \"-c\", \"{script}\"]\n"
    ));
    for template in ["walled", "loose"] {
        let id = submit(&daemon, template);
        let lines = json_lines(&daemon, &[&id]);
        let mut last = String::new();
        for l in &lines {
            let ts = l["ts"].as_str().unwrap_or_else(|| panic!("{template}: untagged {l}"));
            assert!(ts >= last.as_str(), "{template}: time goes back at {l}");
            last = ts.to_string();
            assert!(
                l["text"].as_str().unwrap().len() <= 16 * 1024,
                "{template}: a piece over 16 KiB"
            );
        }
        let got = whole(&lines);
        let mut want: Vec<(String, String)> = Vec::new();
        for i in 0..5 {
            want.push(("stdout".into(), format!("out {i}")));
            want.push(("stderr".into(), format!("err {i}")));
        }
        want.push(("stdout".into(), "x".repeat(1 << 20)));
        want.push(("stdout".into(), "no newline".into()));
        let got_pairs: Vec<(String, String)> =
            got.iter().map(|(s, t, _)| (s.clone(), t.clone())).collect();
        assert_eq!(
            got_pairs.len(),
            want.len(),
            "{template}: {:?}",
            got.iter().map(|g| (&g.0, g.1.len())).collect::<Vec<_>>()
        );
        assert!(got_pairs == want, "{template}: the lines differ");
        assert_eq!(got[10].2, 64, "{template}: the 1 MiB line came in 16 KiB pieces");
        let text_out = daemon.run(&["logs", &id, "-n", "1"]);
        assert_eq!(text(&text_out.stdout), "no newline\n", "{template}");
    }
}

#[test]
fn tail_since_until_and_timestamps_on_the_real_binary() {
    if skip() {
        return;
    }
    let daemon = Daemon::start(
        "[job.two]\ncommand = [\"sh\", \"-c\", \"echo first; sleep 1; echo second >&2; sleep 0.1; echo third\"]\n",
    );
    let id = submit(&daemon, "two");
    let lines = json_lines(&daemon, &[&id]);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let second_ts = lines[1]["ts"].as_str().unwrap().to_string();
    let texts = |v: Vec<Value>| {
        v.iter().map(|l| l["text"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(texts(json_lines(&daemon, &[&id, "--since", &second_ts])), ["second", "third"]);
    assert_eq!(texts(json_lines(&daemon, &[&id, "--until", &second_ts])), ["first"]);
    assert_eq!(texts(json_lines(&daemon, &[&id, "--tail", "1"])), ["third"]);
    assert_eq!(texts(json_lines(&daemon, &[&id, "--since", "10m"])), ["first", "second", "third"]);
    assert!(json_lines(&daemon, &[&id, "--until", "10m"]).is_empty());
    let stamped = text(&daemon.run(&["logs", &id, "-t"]).stdout);
    let first = stamped.lines().next().unwrap();
    assert_eq!(first, format!("{} first", lines[0]["ts"].as_str().unwrap()));
    let bad = daemon.run(&["logs", &id, "--since", "yesterday-ish"]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("RFC 3339"), "{}", text(&bad.stderr));
    let dash_f = daemon.run(&["logs", &id, "-f"]);
    assert_eq!(dash_f.status.code(), Some(2));
    assert!(text(&dash_f.stderr).contains("use `-F`"), "{}", text(&dash_f.stderr));
}

#[test]
fn previous_shows_the_run_before_the_newest() {
    if skip() {
        return;
    }
    // Each run prints its own start time (ns); the service restarts after each.
    let daemon = Daemon::start(
        "[service.once]\ncommand = [\"sh\", \"-c\", \"echo run $(date +%s%N); sleep 0.3; exit 1\"]\nrestart = \"always\"\n\n[service.once.backoff]\ninitial = \"100ms\"\nmax = \"200ms\"\n\n[service.once.start_limit]\nburst = 100\ninterval = \"10s\"\n",
    );
    let mut runs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while runs.len() < 3 && Instant::now() < deadline {
        runs = json_lines(&daemon, &["once"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(runs.len() >= 3, "three runs logged: {runs:?}");
    let stop = daemon.run(&["stop", "once"]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    let texts = |v: Vec<Value>| {
        v.iter().map(|l| l["text"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let all = texts(json_lines(&daemon, &["once"]));
    let previous = texts(json_lines(&daemon, &["once", "--previous"]));
    assert_eq!(previous, [all[all.len() - 2].clone()], "the run before the newest: {all:?}");
    assert_ne!(all[all.len() - 2], all[all.len() - 1], "each run prints its own pid");
}

#[test]
fn several_targets_are_prefixed_and_merged_by_time() {
    if skip() {
        return;
    }
    let daemon = Daemon::start(
        "[job.greet]\ncommand = [\"sh\", \"-c\", \"echo hello; sleep 0.1; echo 'a warning' >&2; sleep 0.1; echo bye\"]\n",
    );
    let a = submit(&daemon, "greet");
    let b = submit(&daemon, "greet");
    let out = daemon.run(&["logs", &a, &b]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    insta::assert_snapshot!(text(&out.stdout));
}

/// A `logs -F --json` child and the lines it printed, read on a thread.
struct Follower {
    child: Child,
    lines: std::sync::mpsc::Receiver<Value>,
}

impl Follower {
    fn start(daemon: &Daemon, args: &[&str]) -> Follower {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stockade"))
            .arg("-f")
            .arg(&daemon.spec)
            .args(["logs", "-F", "--json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        Follower { child, lines }
    }

    /// Lines until `until` holds for one, or the stream ends.
    fn read_until(&self, timeout: Duration, mut until: impl FnMut(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        while let Ok(line) =
            self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let done = until(&line);
            got.push(line);
            if done {
                break;
            }
        }
        got
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        signal(self.child.id(), libc::SIGTERM);
        let _ = self.child.wait();
    }
}

fn counter(line: &Value) -> u64 {
    let t = line["text"].as_str().unwrap();
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("{line}"))
}

#[test]
fn a_follow_resumes_exactly_after_the_daemon_is_killed() {
    if skip() {
        return;
    }
    let mut daemon = Daemon::start(
        "[service.count]\ncommand = [\"sh\", \"-c\", \"i=0; while true; do echo $i; i=$((i+1)); sleep 0.005; done\"]\n",
    );
    let first = Follower::start(&daemon, &["count"]);
    let before = first.read_until(Duration::from_secs(20), |l| counter(l) >= 100);
    signal(daemon.pid(), libc::SIGKILL);
    assert!(daemon.wait(Duration::from_secs(10)).is_some(), "the daemon died");
    // The follower says the daemon went away and exits 0; its last lines count too.
    let mut first = first;
    let rest = first.read_until(Duration::from_secs(10), |_| false);
    let status = first.child.wait().unwrap();
    assert!(status.success(), "the follower exits 0 when the daemon goes");
    let mut stderr = String::new();
    std::io::Read::read_to_string(first.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("the follow ended"), "{stderr}");
    let mut seen: Vec<Value> = before.into_iter().chain(rest).collect();
    // The counter keeps writing while no daemon runs (the box's init logs it).
    std::thread::sleep(Duration::from_millis(500));
    daemon.restart();
    let last_pos = seen.last().unwrap()["pos"].as_str().unwrap().to_string();
    let outage_end = counter(seen.last().unwrap()) + 100; // written during the outage
    let second = Follower::start(&daemon, &["count", "--after", &last_pos]);
    seen.extend(second.read_until(Duration::from_secs(20), |l| counter(l) >= outage_end + 50));
    let numbers: Vec<u64> = seen.iter().map(counter).collect();
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(
            *n,
            numbers[0] + i as u64,
            "a gap or a duplicate at {i}: {:?}",
            &numbers[i.saturating_sub(3)..(i + 3).min(numbers.len())]
        );
    }
    assert!(*numbers.last().unwrap() >= outage_end + 50);
    let stopped = daemon.run(&["down"]);
    assert!(stopped.status.success() || daemon.wait(Duration::from_secs(10)).is_some());
}

#[test]
fn a_follow_keeps_every_line_across_rotations() {
    if skip() {
        return;
    }
    // ~60 KB/s of numbered 100-byte lines against a 64 KiB rotation: a cut
    // about every second, under twice max_size each time (nothing dropped).
    let daemon = Daemon::start(
        "[daemon]\nlog_max_size = \"64KiB\"\nlog_keep = 3\n\n[job.fast]\ncommand = [\"python3\", \"-c\", \"import sys,time\\nfor i in range(6000):\\n    print(str(i).ljust(99, '.'), flush=True)\\n    if i % 20 == 0: time.sleep(0.03)\\n\"]\n",
    );
    let out = daemon.run(&["run", "fast"]);
    let id = text(&out.stdout).trim().to_string();
    let follower = Follower::start(&daemon, &[&id]);
    let lines = follower.read_until(Duration::from_secs(60), |l| counter(l) == 5999);
    let numbers: Vec<u64> = lines.iter().map(counter).collect();
    assert_eq!(numbers, (0..6000).collect::<Vec<u64>>(), "the follow lost or repeated lines");
    let rotated = daemon.state_dir().join(format!("logs/jobs/{id}.log.1"));
    assert!(rotated.exists(), "the log rotated during the follow");
    // Read back afterwards: whole lines, a contiguous suffix of what was written.
    let kept: Vec<u64> = json_lines(&daemon, &[&id]).iter().map(counter).collect();
    let from = kept[0];
    assert_eq!(kept, (from..6000).collect::<Vec<u64>>());
}
