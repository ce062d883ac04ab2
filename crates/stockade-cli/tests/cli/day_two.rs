//! The day-two surface through the real binary (issue 14): the defects
//! found in use, a test each; `${VAR}` and `env_file`; the service verbs
//! (`NAME...`, `--all`, `--wait`, `name[3]`, a stop that survives a daemon
//! restart, `scale`), `cancel ID...`, `run --attach`, `ps --limit`,
//! `events` filters, completions, no ANSI into pipes, one JSON casing.

use crate::support::{Daemon, signal, stockade, text, wait_until};
use serde_json::Value;
use std::process::{Output, Stdio};
use std::time::Duration;

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn ps_json(daemon: &Daemon) -> Value {
    serde_json::from_str(&ok(&daemon.run(&["ps", "--json"]))).expect("ps --json is JSON")
}

/// The states of every replica of `service`, in order.
fn states(daemon: &Daemon, service: &str) -> Vec<String> {
    ps_json(daemon)["services"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|r| r["service"] == service)
                .map(|r| r["state"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

#[test]
fn a_second_up_says_already_running_and_http_probes_close_cleanly() {
    let port = free_port();
    // Python's http.server logs a traceback for every client that resets.
    let daemon = Daemon::start(&format!(
        r#"
[service.web]
command = ["/usr/bin/python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
isolation = "none"
readiness = {{ http = "http://127.0.0.1:{port}/", period = "100ms" }}
"#
    ));
    wait_until(Duration::from_secs(30), "web is ready", || {
        let s = states(&daemon, "web");
        (s == ["ready"]).then_some(()).ok_or(format!("{s:?}"))
    });
    let second = stockade()
        .args(["up", "-f"])
        .arg(&daemon.spec)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = text(&second.stderr);
    assert!(err.contains(&format!("already running (pid {})", daemon.pid())), "{err}");
    assert!(!err.contains("already accepts connections"), "the preflight ran first: {err}");
    // A few dozen probes later, the agent never saw a reset.
    std::thread::sleep(Duration::from_secs(3));
    let log =
        std::fs::read_to_string(daemon.state_dir().join("logs/web.0.log")).unwrap_or_default();
    assert!(log.contains("GET / HTTP"), "probes reached the agent: {log}");
    assert!(!log.contains("ConnectionResetError") && !log.contains("BrokenPipe"), "{log}");
}

#[test]
fn submissions_that_can_never_run_or_odd_numbers_get_plain_answers() {
    let daemon = Daemon::start(
        r#"
[job.t]
command = ["true"]
[job.huge]
command = ["true"]
limits = { memory = "64TiB" }
"#,
    );
    let huge = daemon.run(&["run", "huge"]);
    assert_eq!(huge.status.code(), Some(1));
    let err = text(&huge.stderr);
    assert!(err.contains("can never give one run more than"), "{err}");
    assert!(err.contains("hint: lower limits.memory of [job.huge]"), "{err}");
    let id: u64 = ok(&daemon.run(&["run", "t", "--priority", "-5"])).trim().parse().expect("an id");
    let job: Value = serde_json::from_str(&ok(&daemon.run(&["ps", "--all", "--json"]))).unwrap();
    let mine = job["jobs"].as_array().unwrap().iter().find(|j| j["id"] == id).cloned();
    assert_eq!(mine.expect("the job is listed")["priority"], -5);
    let max = daemon.run(&["cancel", "18446744073709551615"]);
    assert_eq!(max.status.code(), Some(1));
    assert!(
        text(&max.stderr).contains("no job with id 18446744073709551615"),
        "{}",
        text(&max.stderr)
    );
}

#[test]
fn doctor_plan_counts_cpu_and_never_recommends_zero() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("stockade.toml");
    std::fs::write(&spec, "[job.small]\ncommand = [\"true\"]\nlimits = { memory = \"16MiB\", pids = 8 }\n[job.vast]\ncommand = [\"true\"]\npool = \"big\"\nlimits = { memory = \"64TiB\" }\n[pool.big]\nmax_concurrency = 1\n").unwrap();
    let out = stockade().args(["doctor", "--json", "--plan", "-f"]).arg(&spec).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let cpus = report["plan"]["budget"]["cpus"].as_u64().expect("the CPUs are counted");
    for pool in report["plan"]["pools"].as_array().unwrap() {
        let rec = pool["recommended_max_concurrency"].as_u64().expect("a recommendation");
        assert!(rec >= 1, "never 0: {pool}");
        assert!(rec <= cpus, "within the CPUs: {pool}");
        assert!(pool["inputs"].to_string().contains("cpu:"), "{pool}");
    }
}

#[test]
fn a_user_the_socket_refuses_is_told_whose_it_is() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let daemon = Daemon::start("[job.t]\ncommand = [\"true\"]\n");
    for dir in [daemon.spec.parent().unwrap().to_path_buf(), daemon.state_dir()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let socket = daemon.state_dir().join("stockade.sock");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stockade"))
        .arg("ps")
        .arg("--socket")
        .arg(&socket)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("the socket at {} is owned by root and mode 0600", socket.display())),
        "{err}"
    );
    assert!(err.contains("run as root") && err.contains("socket_group"), "{err}");
}

#[test]
fn a_follow_that_outlives_the_daemon_says_so_and_exits_0() {
    let daemon = Daemon::start("[job.t]\ncommand = [\"true\"]\n");
    let follower = std::process::Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args(["events", "-F", "-f"])
        .arg(&daemon.spec)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(daemon.stop(), Some(0));
    let out = follower.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the daemon stopped; the event stream ended"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sigint_twice_at_once_as_timeout_sends_it_is_one_clean_stop() {
    let mut up = Daemon::start_verb("[service.s]\ncommand = [\"sleep\", \"600\"]\n", "up");
    wait_until(Duration::from_secs(30), "s runs", || {
        let s = states(&up, "s");
        (s == ["running"]).then_some(()).ok_or(format!("{s:?}"))
    });
    // `timeout -s INT` signals the process and then its process group: the
    // same interrupt twice, microseconds apart (50 ms here, so the two are
    // surely seen apart, not merged by the signal handler).
    signal(up.pid(), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(50));
    signal(up.pid(), libc::SIGINT);
    let status = up.wait(Duration::from_secs(30)).expect("up stops");
    let log = up.log_text();
    assert_eq!(status.code(), Some(0), "{status:?}: {log}");
    assert!(!log.contains("forcing the stop") && log.contains("forced=false"), "{log}");
}

#[test]
fn variables_and_env_files_are_checked_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("stockade.toml");
    std::fs::write(dir.path().join(".env"), "GREETING_WORD=hello\n").unwrap();
    std::fs::write(
        &spec,
        "[job.hi]\ncommand = [\"sh\", \"-c\", \"echo ${GREETING_WORD} ${PUNCT:-!} ${NOT_SET_ANYWHERE}\"]\n",
    )
    .unwrap();
    let check = stockade().args(["check", "-f"]).arg(&spec).output().unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    let warn = text(&check.stderr);
    assert!(warn.contains("stockade.toml:2:"), "{warn}");
    assert!(warn.contains("warning: variable NOT_SET_ANYWHERE is not set"), "{warn}");
    assert!(
        !warn.contains("GREETING_WORD") && !warn.contains("PUNCT"),
        "defined in .env, or defaulted: {warn}"
    );
    let json: Value = serde_json::from_slice(
        &stockade().args(["check", "--json", "-f"]).arg(&spec).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(json["warnings"][0]["line"], 2, "{json}");
    let missing = dir.path().join("missing.toml");
    std::fs::write(&missing, "[job.x]\ncommand = [\"true\"]\nenv_file = \"nope.env\"\n").unwrap();
    let bad = stockade().args(["check", "-f"]).arg(&missing).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("missing.toml:3:12"), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("cannot read env_file"), "{}", text(&bad.stderr));
}

#[test]
fn run_attach_streams_the_output_with_a_dotenv_env_file_and_defaults() {
    let env = tempfile::tempdir().unwrap();
    let file = env.path().join(".env.worker");
    std::fs::write(&file, "export AUDIENCE=\"wide world\" # who\n").unwrap();
    let daemon = Daemon::start(&format!(
        "[job.hi]\ncommand = [\"sh\", \"-c\", \"echo one $AUDIENCE; sleep 0.3; echo ${{WORD:-two}}\"]\nenv_file = \"{}\"\n",
        file.display()
    ));
    let out = daemon.run(&["run", "hi", "--attach"]);
    assert_eq!(ok(&out), "one wide world\ntwo\n");
    assert!(text(&out.stderr).contains("succeeded"), "{}", text(&out.stderr));
}

#[test]
fn service_verbs_take_many_names_all_and_one_replica_and_stop_survives_a_restart() {
    let mut daemon = Daemon::start(
        "[service.a]\ncommand = [\"sleep\", \"600\"]\nreplicas = 3\nstop = { grace = \"2s\" }\n[service.b]\ncommand = [\"sleep\", \"600\"]\n",
    );
    wait_until(Duration::from_secs(30), "everything runs", || {
        let (a, b) = (states(&daemon, "a"), states(&daemon, "b"));
        (a == ["running"; 3] && b == ["running"]).then_some(()).ok_or(format!("{a:?} {b:?}"))
    });
    let one = ok(&daemon.run(&["stop", "a[1]", "--wait"]));
    assert!(one.contains("a[1]") && one.contains("stopped") && !one.contains("a[0]"), "{one}");
    assert_eq!(states(&daemon, "a"), ["running", "stopped", "running"]);
    let bad = daemon.run(&["restart", "a[7]"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("there is no a[7]"), "{}", text(&bad.stderr));
    ok(&daemon.run(&["start", "a[1]", "--wait"]));
    let restarted = ok(&daemon.run(&["restart", "--all", "--wait", "--json"]));
    let replicas: Value = serde_json::from_str(&restarted).unwrap();
    assert_eq!(replicas.as_array().map(Vec::len), Some(4), "{replicas}");
    ok(&daemon.run(&["stop", "a", "b", "--wait"]));
    assert_eq!(daemon.terminate(Duration::from_secs(30)).code(), Some(0));
    daemon.restart();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(states(&daemon, "a"), ["stopped"; 3], "a stop outlives the daemon");
    ok(&daemon.run(&["start", "b", "--wait"]));
    assert_eq!(states(&daemon, "b"), ["running"]);
    let scaled: Value =
        serde_json::from_str(&ok(&daemon.run(&["scale", "b", "2", "--wait", "--json"]))).unwrap();
    assert_eq!(scaled[1]["state"], "running", "{scaled}");
    ok(&daemon.run(&["scale", "b", "1"]));
    wait_until(Duration::from_secs(10), "b[1] retired", || {
        let b = states(&daemon, "b");
        (b == ["running"]).then_some(()).ok_or(format!("{b:?}"))
    });
}

#[test]
fn cancel_many_ps_pages_and_events_filter_before_the_window() {
    let daemon = Daemon::start(
        "[job.long]\ncommand = [\"sleep\", \"600\"]\n[pool.default]\nmax_concurrency = 1\n",
    );
    let ids: Vec<String> =
        (0..5).map(|_| ok(&daemon.run(&["run", "long"])).trim().to_owned()).collect();
    let ps = ok(&daemon.run(&["ps", "--limit", "2"]));
    assert!(ps.contains("… 3 more job(s) not shown (2 of 5"), "{ps}");
    assert!(!ps.contains('\x1b'), "no ANSI into a pipe: {ps:?}");
    let all: Value = serde_json::from_str(&ok(&daemon.run(&["ps", "--all", "--json"]))).unwrap();
    assert_eq!(all["jobs"].as_array().map(Vec::len), Some(5));
    assert_eq!(all["jobs_left_out"], 0);
    let mut args = vec!["cancel"];
    args.extend(ids.iter().map(String::as_str));
    let cancelled = ok(&daemon.run(&args));
    assert_eq!(cancelled.lines().count(), 5, "{cancelled}");
    let tail = ok(&daemon.run(&["events", "--type", "job_state", "--tail", "3", "--json"]));
    let kinds: Vec<Value> = tail.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // The newest 3 that match (not the matches among the newest 3), then
    // whatever matching happens during the short wait for more.
    assert!(
        kinds.len() >= 3,
        "the newest 3 that match, not the matches among the newest 3: {tail}"
    );
    assert!(kinds.iter().all(|e| e["type"] == "job_state"), "{tail}");
    let bad = daemon.run(&["events", "--type", "job_stat"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("possible values"), "{}", text(&bad.stderr));
    let submitted = ok(&daemon.run(&["run", "long", "--json"]));
    assert!(
        submitted.contains("\"max_concurrency\"") && !submitted.contains("maxConcurrency"),
        "{submitted}"
    );
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = stockade().args(["completions", shell]).output().unwrap();
        let script = ok(&out);
        assert!(script.contains("stockade") && script.contains("restart"), "{shell}: {script}");
    }
}

#[test]
fn postmortem_of_one_replica_and_the_replicas_there_are_when_it_has_no_such_one() {
    // Replica N exits 1N after a moment, once: one post-mortem each.
    let mut daemon = Daemon::start(
        "[service.pm]\ncommand = [\"sh\", \"-c\", \"sleep 0.{replica}; echo replica {replica} >&2; exit 1{replica}\"]\nreplicas = 3\nrestart = \"never\"\n",
    );
    for replica in 0..3 {
        let target = format!("pm[{replica}]");
        let pm = wait_until(Duration::from_secs(30), &format!("{target}'s post-mortem"), || {
            let out = daemon.run(&["postmortem", &target]);
            if out.status.success() { Ok(text(&out.stdout)) } else { Err(text(&out.stderr)) }
        });
        assert!(pm.starts_with(&format!("pm: exited with status 1{replica}")), "{target}: {pm}");
        assert!(pm.contains(&format!("replica {replica}")), "{target}: its own stderr: {pm}");
    }
    let json: Value =
        serde_json::from_str(&ok(&daemon.run(&["postmortem", "pm[1]", "--json"]))).unwrap();
    assert_eq!(json["evidence"]["exit_code"], 11, "{json}");
    let bad = daemon.run(&["postmortem", "pm[3]"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    let err = text(&bad.stderr);
    assert!(
        err.contains("service `pm` has 3 replica(s), pm[0] to pm[2]; there is no pm[3]"),
        "{err}"
    );
    let unknown = daemon.run(&["postmortem", "nope[0]"]);
    assert!(text(&unknown.stderr).contains("no service named `nope`"), "{}", text(&unknown.stderr));
    let malformed = daemon.run(&["postmortem", "pm[x]"]);
    assert_eq!(malformed.status.code(), Some(2), "{}", text(&malformed.stderr));
    // With the daemon down, from the store.
    assert_eq!(daemon.terminate(Duration::from_secs(30)).code(), Some(0));
    let offline = ok(&daemon.run(&["postmortem", "pm[2]"]));
    assert!(offline.contains("pm: exited with status 12"), "{offline}");
}
