//! The chaos suite (issue 13, item 8): faults repeated against the real
//! `stockade daemon` binary, each test bounded in time.
//!
//! - `sigkill_at_random_points…`: a seeded RNG (`STOCKADE_CHAOS_SEED`,
//!   printed) SIGKILLs the daemon at random points of submission, spawn and
//!   exit, `STOCKADE_CHAOS_CYCLES` times (default 50); every acknowledged job
//!   is accounted for, none succeeded twice or ran past its attempt fence,
//!   no box is left holding a process;
//! - `a_frozen_daemon…`: SIGSTOP — clients time out cleanly; SIGCONT — it
//!   answers again;
//! - `an_idle_connection_flood…`: thousands of idle Unix and TCP connections
//!   against the daemon's own fd table; `/health/live` still answers, a
//!   crashing service is still restarted, every idle connection is closed;
//! - `a_full_state_dir…`: a tmpfs state dir filled up: 503 ready, 507
//!   submissions, recovery by itself;
//! - `queued_jobs_at_scale…`: `STOCKADE_CHAOS_QUEUED` queued jobs (default
//!   20,000; 200,000 by hand) with `/health/live`, `GET /api/jobs?limit=50`,
//!   SIGTERM and restart-to-serving timed, and memory per queued job, printed;
//! - `a_fast_writer…`: a walled `dd` writing 400 MiB as fast as it can
//!   (`STOCKADE_CHAOS_WRITER_MIB`): the daemon's own CPU, `/health/live`
//!   meanwhile and the rotated log's size, printed and bounded.
//!
//! A store deleted or truncated while stopped is `recovery::a_deleted_or_truncated_store_refuses_to_start_until_new_store`.
//! Everything a test starts is killed by pid on the way out (also on
//! failure), its boxes are swept, and its mounts are lazily unmounted.

use crate::support::{Api, BoxSweeper, Daemon, TestEnv, box_pids, wait_until};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stockade_proto::{ExitCause, JobId, JobState};
use stockade_store::{Store, StoreOptions};

fn skip() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/sys/fs/cgroup").is_dir() {
        eprintln!("skipped: needs root and cgroups (the daemon makes real boxes)");
        return true;
    }
    false
}

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ------------------------------------------------------------------ harness

/// A [`TestEnv`] for the chaos test `tag`: `TEMPLATE` in `body` names its
/// job template (`chaos-TAG-PID`).
fn chaos_env(tag: &str, daemon_keys: &str, body: &str) -> TestEnv {
    TestEnv::build(&format!("chaos-{tag}"), daemon_keys, |t| body.replace("TEMPLATE", t))
}

/// A daemon on `env` (with the chaos token for its TCP listener, if any).
fn chaos_daemon(env: &TestEnv, name: &str) -> Daemon {
    Daemon::on_with(env, name, &[], &[("STOCKADE_TOKEN", TOKEN)])
}

/// A tmpfs mount, lazily unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(target: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(target).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "stockade-chaos"])
            .arg(target)
            .status()
            .ok()?
            .success();
        ok.then(|| Tmpfs(target.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

const TOKEN: &str = "chaos-token";

fn timed(socket: &Path, path: &str, n: usize) -> (Duration, Duration) {
    let mut all = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let (code, body) = Api::with_timeout(socket, Duration::from_secs(120))
            .request("GET", path, None)
            .expect(path);
        assert_eq!(code, 200, "{path}: {body}");
        all.push(t.elapsed());
    }
    all.sort();
    (all[all.len() / 2], *all.last().unwrap())
}

// -------------------------------------------------------------------- tests

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_job_and_runs_none_twice() {
    if skip() {
        return;
    }
    let seed = knob("STOCKADE_CHAOS_SEED", 0x5eed_cafe);
    let cycles = knob("STOCKADE_CHAOS_CYCLES", 50);
    eprintln!(
        "chaos kill: seed {seed:#x}, {cycles} cycles (STOCKADE_CHAOS_SEED, STOCKADE_CHAOS_CYCLES)"
    );
    let env = chaos_env(
        "kill",
        "",
        r#"[pool.p]
max_concurrency = 8

[job.TEMPLATE]
command = ["sleep"]
pool = "p"
isolation = "none"
retries = { max = 100, on = ["lost"], backoff = "20ms" }
"#,
    );
    let boxes = BoxSweeper { prefix: format!("{}.", env.template) };
    let mut rng = Rng(seed | 1);
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let t0 = Instant::now();
    let mut lock_waits = 0;
    for cycle in 0..cycles {
        let (mut daemon, waited) = start_after_kill(&env, &format!("cycle-{cycle}"));
        lock_waits += waited;
        let stop = Arc::new(AtomicBool::new(false));
        let submitter = {
            let (stop, acked, socket, template) =
                (stop.clone(), acked.clone(), env.socket(), env.template.clone());
            let secs = format!("0.{:02}", 1 + rng.below(10));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let req = json!({"template": template, "args": [secs]});
                    match Api::with_timeout(&socket, Duration::from_secs(5)).request(
                        "POST",
                        "/api/jobs",
                        Some(&req),
                    ) {
                        Ok((201, body)) => {
                            acked.lock().unwrap().insert(body["id"].as_u64().expect("an id"));
                        }
                        Ok((code, body)) => panic!("submission answered {code}: {body}"),
                        Err(_) => break, // the daemon died mid-request: not acknowledged
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(30 + rng.below(700)));
        daemon.kill_9();
        stop.store(true, Ordering::Relaxed);
        submitter.join().expect("the submitter");
    }
    let acked = acked.lock().unwrap().clone();
    let killed_in = t0.elapsed();
    // The last daemon finishes every acknowledged job.
    let t = Instant::now();
    let (mut last, waited) = start_after_kill(&env, "last");
    lock_waits += waited;
    let restart = t.elapsed();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (code, body) = Api::with_timeout(env.socket(), Duration::from_secs(10))
            .request("GET", "/api/jobs?state=queued,running&limit=1", None)
            .unwrap();
        assert_eq!(code, 200, "{body}");
        if body["items"].as_array().is_some_and(|a| a.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "jobs still live after 90 s: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (term, code) = last.terminate_timed(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", last.log());
    let occupied: Vec<_> = boxes.dirs().into_iter().filter(|d| !box_pids(d).is_empty()).collect();
    assert!(occupied.is_empty(), "boxes still hold processes: {occupied:?}");

    let store = Store::open(&env.state().join("stockade.db"), StoreOptions::default()).unwrap();
    let mut causes: BTreeMap<String, usize> = BTreeMap::new();
    for &id in &acked {
        let job =
            store.job(JobId(id)).unwrap().unwrap_or_else(|| panic!("acknowledged job {id} lost"));
        let runs = store.runs_of_job(JobId(id)).unwrap();
        // An `interrupted` run (its box died with the daemon before it could
        // be adopted) gives its attempt back: the next run repeats the
        // number. Every other run spends one attempt, in order.
        let interrupted = |r: &&stockade_store::RunRecord| r.cause == Some(ExitCause::Interrupted);
        let attempts: Vec<u32> =
            runs.iter().filter(|r| !interrupted(r)).map(|r| r.attempt).collect();
        assert_eq!(
            attempts,
            (1..=job.attempt).collect::<Vec<_>>(),
            "job {id}: one run per attempt: {runs:?}"
        );
        assert!(
            runs.iter().filter(interrupted).all(|r| r.attempt <= job.attempt),
            "job {id}: an interrupted run past the job's attempt: {runs:?}"
        );
        for pair in runs.windows(2) {
            let ended = pair[0].ended_at.expect("an earlier run ended");
            assert!(ended <= pair[1].started_at, "job {id}: two runs at once");
        }
        let successes =
            runs.iter().filter(|r| r.cause == Some(ExitCause::Exited { code: 0 })).count();
        assert!(successes <= 1, "job {id} succeeded {successes} times: {runs:?}");
        assert_eq!(job.state, JobState::Succeeded, "job {id}: {job:?} {runs:?}");
        for run in &runs {
            let cause = run.cause.as_ref().map(|c| format!("{c:?}")).unwrap_or("open".into());
            *causes.entry(cause).or_default() += 1;
        }
    }
    eprintln!(
        "chaos kill: {cycles} SIGKILLs in {killed_in:?}, {} acknowledged jobs, all accounted for; runs by cause {causes:?}; last restart to serving {restart:?}, SIGTERM {term:?}; {lock_waits} start(s) found the lock still held for a moment",
        acked.len()
    );
    assert!(!acked.is_empty(), "nothing was acknowledged");
}

/// Start a daemon right after a SIGKILL. A child the dead daemon was forking
/// at that instant shares its lock fd until it execs (CLOEXEC acts only at
/// exec), so a start may find the lock held for a few milliseconds: retry
/// that for up to 2 s, counting how often.
fn start_after_kill(env: &TestEnv, name: &str) -> (Daemon, usize) {
    let t = Instant::now();
    let mut waited = 0;
    loop {
        let mut daemon = chaos_daemon(env, name);
        let api = Api::with_timeout(&daemon.socket, Duration::from_secs(2));
        let live = wait_until(Duration::from_secs(30), "the daemon live (or exited)", || {
            if daemon.wait(Duration::ZERO).is_some() {
                return Ok(false);
            }
            match api.get("/health/live") {
                Ok((200, _)) => Ok(true),
                other => Err(format!("{other:?}\n{}", daemon.log())),
            }
        });
        if live {
            return (daemon, waited);
        }
        let log = daemon.log();
        assert!(
            log.contains("is already running (pid") && t.elapsed() < Duration::from_secs(2),
            "the daemon exited early:\n{log}"
        );
        waited += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_frozen_daemon_times_out_clients_cleanly_and_resumes() {
    if skip() {
        return;
    }
    let env =
        chaos_env("frozen", "", "[job.TEMPLATE]\ncommand = [\"true\"]\nisolation = \"none\"\n");
    let _boxes = BoxSweeper { prefix: format!("{}.", env.template) };
    let mut daemon = chaos_daemon(&env, "frozen");
    daemon.wait_live(Duration::from_secs(30));
    daemon.signal(libc::SIGSTOP);
    // Wait until the kernel has stopped it (state T).
    let stopped = Instant::now();
    while !std::fs::read_to_string(format!("/proc/{}/stat", daemon.pid))
        .unwrap_or_default()
        .rsplit(')')
        .next()
        .is_some_and(|rest| rest.trim_start().starts_with('T'))
    {
        assert!(stopped.elapsed() < Duration::from_secs(5), "SIGSTOP did not take");
        std::thread::sleep(Duration::from_millis(5));
    }
    let t = Instant::now();
    let frozen = Api::with_timeout(env.socket(), Duration::from_millis(500)).request(
        "GET",
        "/health/live",
        None,
    );
    let waited = t.elapsed();
    let err = frozen.expect_err("a stopped daemon cannot answer");
    assert!(
        matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        "a clean timeout, not {err:?}"
    );
    // The CLI gives up too, after its --timeout, with an error rather than hanging.
    let cli = Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args(["status", "--timeout", "1s", "-f"])
        .arg(&env.spec)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cli_pid = cli.id();
    let cli_out = {
        let started = Instant::now();
        let mut cli = cli;
        loop {
            if let Ok(Some(status)) = cli.try_wait() {
                let mut err = String::new();
                cli.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                break Some((status, err, started.elapsed()));
            }
            if started.elapsed() > Duration::from_secs(5) {
                // SAFETY: our own child.
                unsafe { libc::kill(cli_pid as i32, libc::SIGKILL) };
                let _ = cli.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    daemon.signal(libc::SIGCONT);
    let resumed = daemon.wait_live(Duration::from_secs(10));
    let (status, err, took) =
        cli_out.expect("`stockade status --timeout 1s` still waited after 5 s");
    eprintln!("frozen: `stockade status` exited {status} after {took:?}: {}", err.trim());
    assert_eq!(status.code(), Some(3), "unreachable is exit 3: {err}");
    assert!(err.contains("did not answer GET /api/status within 1s"), "{err}");
    eprintln!("frozen: raw client timed out after {waited:?}; after SIGCONT live in {resumed:?}");
    let (_, code) = daemon.terminate_timed(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", daemon.log());
}

#[test]
fn an_idle_connection_flood_is_held_at_the_door_and_services_keep_restarting() {
    if skip() {
        return;
    }
    let env = chaos_env(
        "flood",
        "listen = [\"unix:state/stockade.sock\", \"tcp:127.0.0.1:0\"]\nidle_timeout = \"3s\"",
        r#"[service.TEMPLATE]
command = ["sh", "-c", "sleep 0.3; exit 3"]
restart = "always"
isolation = "none"
backoff = { initial = "50ms", max = "200ms", jitter = 0.0 }
start_limit = { burst = 10000, interval = "60s" }
"#,
    );
    // `listen` is relative to the spec's directory.
    let _boxes = BoxSweeper { prefix: format!("{}.", env.template) };
    let mut daemon = chaos_daemon(&env, "flood");
    daemon.wait_live(Duration::from_secs(30));
    let addr = {
        // The "serving" line may reach the log file a moment after the
        // daemon answers: look again until it is there.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let log = loop {
            let log = daemon.log();
            if log.contains("tcp:127.0.0.1:") || std::time::Instant::now() > deadline {
                break log;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let at = log.find("tcp:127.0.0.1:").expect("the tcp address in the log");
        log[at + 4..]
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
            .next()
            .unwrap()
            .to_owned()
    };
    let restarts = || -> u64 {
        let (_, all) = Api::with_timeout(env.socket(), Duration::from_secs(5))
            .request("GET", "/api/services", None)
            .unwrap();
        all["items"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|r| r["restarts"].as_u64())
            .unwrap_or(0)
    };
    let (_, before) = timed(&env.socket(), "/health/live", 10);
    let fds_before = std::fs::read_dir(format!("/proc/{}/fd", daemon.pid)).unwrap().count();
    let restarts_before = restarts();
    let n = knob("STOCKADE_CHAOS_FLOOD", 2500) as usize;
    let t = Instant::now();
    let mut held: Vec<Box<dyn Read>> = Vec::new();
    let (mut tcp_ok, mut unix_ok) = (0, 0);
    for _ in 0..n {
        if let Ok(s) = std::net::TcpStream::connect(&addr) {
            let _ = s.set_read_timeout(Some(Duration::from_millis(20)));
            tcp_ok += 1;
            held.push(Box::new(s));
        }
        if let Ok(s) = UnixStream::connect(env.socket()) {
            let _ = s.set_read_timeout(Some(Duration::from_millis(20)));
            unix_ok += 1;
            held.push(Box::new(s));
        }
    }
    let fds_during = std::fs::read_dir(format!("/proc/{}/fd", daemon.pid)).unwrap().count();
    std::thread::sleep(Duration::from_millis(1200));
    let (median, worst) = timed(&env.socket(), "/health/live", 20);
    let deadline = Instant::now() + Duration::from_secs(20);
    while restarts() < restarts_before + 3 {
        assert!(
            Instant::now() < deadline,
            "the crashing service was not restarted during the flood"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // idle_timeout 3 s (+ one tick): every flood connection is closed.
    std::thread::sleep(Duration::from_secs(5));
    let mut open = 0;
    for s in held.iter_mut() {
        let mut buf = [0u8; 1024];
        // Closed sockets answer at once (a 503, then EOF); open ones time out.
        let mut closed = false;
        for _ in 0..8 {
            match s.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if !closed {
            open += 1;
        }
    }
    let fds_after = std::fs::read_dir(format!("/proc/{}/fd", daemon.pid)).unwrap().count();
    eprintln!(
        "flood: {tcp_ok} tcp + {unix_ok} unix idle connections in {:?}; daemon fds {fds_before} → {fds_during} during → {fds_after} after; /health/live median {median:?} worst {worst:?} during (worst {before:?} before); crasher restarted {} times meanwhile",
        t.elapsed(),
        restarts() - restarts_before
    );
    assert_eq!(open, 0, "idle connections left open");
    drop(held);
    let (_, code) = daemon.terminate_timed(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", daemon.log());
}

#[test]
fn a_full_state_dir_is_not_ready_refuses_submissions_and_recovers_by_itself() {
    if skip() {
        return;
    }
    let env = chaos_env("full", "", "[job.TEMPLATE]\ncommand = [\"true\"]\nisolation = \"none\"\n");
    let _boxes = BoxSweeper { prefix: format!("{}.", env.template) };
    let Some(_mount) = Tmpfs::mount(&env.state(), "24m") else {
        eprintln!("skipped: cannot mount a tmpfs");
        return;
    };
    let mut daemon = chaos_daemon(&env, "full");
    daemon.wait_live(Duration::from_secs(30));
    let socket = env.socket();
    let submit = || {
        Api::with_timeout(&socket, Duration::from_secs(10))
            .request("POST", "/api/jobs", Some(&json!({"template": env.template})))
            .unwrap()
    };
    let mut acked = vec![submit().1["id"].as_u64().unwrap()];
    let filler = env.state().join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![7u8; 64 << 10];
        while f.write_all(&chunk).is_ok() {}
        while f.write_all(&[7]).is_ok() {}
    }
    let mut refused = None;
    for _ in 0..5000 {
        let (code, body) = submit();
        match code {
            201 => acked.push(body["id"].as_u64().unwrap()),
            507 => {
                refused = Some(body);
                break;
            }
            other => panic!("{other}: {body}"),
        }
    }
    let refused = refused.expect("507 once the disk is full");
    let (ready, why) = Api::with_timeout(&socket, Duration::from_secs(5))
        .request("GET", "/health/ready", None)
        .unwrap();
    assert_eq!(ready, 503, "{why}");
    assert_eq!(why["code"], "store_not_writable", "{why}");
    std::fs::remove_file(&filler).unwrap();
    let t = Instant::now();
    loop {
        let (code, _) = Api::with_timeout(&socket, Duration::from_secs(5))
            .request("GET", "/health/ready", None)
            .unwrap();
        if code == 200 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "not ready again");
        std::thread::sleep(Duration::from_millis(50));
    }
    let recovered = t.elapsed();
    let (code, body) = submit();
    assert_eq!(code, 201, "{body}");
    acked.push(body["id"].as_u64().unwrap());
    for id in &acked {
        let (code, body) = Api::with_timeout(&socket, Duration::from_secs(5))
            .request("GET", &format!("/api/jobs/{id}"), None)
            .unwrap();
        assert_eq!(code, 200, "acknowledged job {id}: {body}");
    }
    eprintln!(
        "full: {} acknowledged before 507 ({}); ready 503 ({}); ready again {recovered:?} after space returned",
        acked.len() - 1,
        refused["hint"],
        why["message"]
    );
    let (_, code) = daemon.terminate_timed(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", daemon.log());
}

#[test]
fn queued_jobs_at_scale_keep_the_daemon_answering() {
    if skip() {
        return;
    }
    let n = knob("STOCKADE_CHAOS_QUEUED", 20_000) as usize;
    let env = chaos_env(
        "queued",
        "",
        &format!(
            "[pool.p]\nmax_concurrency = 1\nmax_queued = {}\n\n[job.TEMPLATE]\ncommand = [\"sleep\", \"600\"]\npool = \"p\"\nisolation = \"none\"\n",
            n + 10
        ),
    );
    let _boxes = BoxSweeper { prefix: format!("{}.", env.template) };
    let mut daemon = chaos_daemon(&env, "first");
    let first_start = daemon.wait_live(Duration::from_secs(30));
    let rss_before = daemon.rss_kib();
    let socket = env.socket();
    let t = Instant::now();
    let batch: Vec<Value> = (0..1000).map(|_| json!({"template": env.template})).collect();
    let mut queued = 0;
    while queued < n {
        let take = (n - queued).min(1000);
        let body = Value::from(batch[..take].to_vec());
        let (code, reply) = Api::with_timeout(&socket, Duration::from_secs(120))
            .request("POST", "/api/jobs", Some(&body))
            .unwrap();
        assert_eq!(code, 201, "{reply}");
        queued += take;
    }
    let submit = t.elapsed();
    let rss_after = daemon.rss_kib();
    let (live_median, live_worst) = timed(&socket, "/health/live", 20);
    let (list_median, list_worst) = timed(&socket, "/api/jobs?limit=50", 10);
    let (term1, code) = daemon.terminate_timed(Duration::from_secs(300));
    assert_eq!(code, Some(0), "{}", daemon.log());
    let mut second = chaos_daemon(&env, "second");
    let restart = second.wait_live(Duration::from_secs(300));
    let (live2, _) = timed(&socket, "/health/live", 5);
    let (term2, code) = second.terminate_timed(Duration::from_secs(300));
    assert_eq!(code, Some(0), "{}", second.log());
    let per_job = (rss_after.saturating_sub(rss_before) as f64 * 1024.0) / n as f64;
    eprintln!(
        "\nqueued jobs: {n} (STOCKADE_CHAOS_QUEUED)\n\
         | what | figure |\n|---|---|\n\
         | first start to serving | {first_start:?} |\n\
         | submit {n} in batches of 1000 | {submit:?} |\n\
         | /health/live median / worst of 20 | {live_median:?} / {live_worst:?} |\n\
         | GET /api/jobs?limit=50 median / worst of 10 | {list_median:?} / {list_worst:?} |\n\
         | SIGTERM to exit | {term1:?} |\n\
         | restart to serving | {restart:?} (then /health/live {live2:?}) |\n\
         | SIGTERM after restart | {term2:?} |\n\
         | RSS before / after queueing | {rss_before} KiB / {rss_after} KiB ({per_job:.0} B per queued job) |\n"
    );
}

/// The daemon's own CPU time (utime + stime, not its reaped children), s.
fn own_cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().filter_map(|f| f.parse().ok()).collect())
        .unwrap_or_default();
    // After the comm: state is a letter (skipped by the parse), so utime and
    // stime are the 11th and 12th numbers.
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0)) as f64 / hz
}

#[test]
fn a_fast_writer_costs_the_daemon_almost_nothing_and_its_log_stays_bounded() {
    if skip() {
        return;
    }
    let mib = knob("STOCKADE_CHAOS_WRITER_MIB", 400);
    let env = chaos_env(
        "writer",
        "log_max_size = \"4MiB\"\nlog_keep = 1",
        &format!(
            "[job.TEMPLATE]\ncommand = [\"dd\", \"if=/dev/zero\", \"bs=1M\", \"count={mib}\", \"status=none\"]\n"
        ),
    );
    let _boxes = BoxSweeper { prefix: format!("{}.", env.template) };
    let mut daemon = chaos_daemon(&env, "writer");
    daemon.wait_live(Duration::from_secs(30));
    let socket = env.socket();
    let cpu0 = own_cpu_secs(daemon.pid);
    let t = Instant::now();
    let (code, body) = Api::with_timeout(&socket, Duration::from_secs(10))
        .request("POST", "/api/jobs", Some(&json!({"template": env.template})))
        .unwrap();
    assert_eq!(code, 201, "{body}");
    let id = body["id"].as_u64().unwrap();
    let mut worst_live = Duration::ZERO;
    let job = loop {
        let started = Instant::now();
        let (live, _) = Api::with_timeout(&socket, Duration::from_secs(5))
            .request("GET", "/health/live", None)
            .unwrap();
        assert_eq!(live, 200);
        worst_live = worst_live.max(started.elapsed());
        let (_, job) = Api::with_timeout(&socket, Duration::from_secs(5))
            .request("GET", &format!("/api/jobs/{id}"), None)
            .unwrap();
        if job["state"] == "succeeded" || job["state"] == "failed" {
            break job;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "the writer did not end: {job}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let wall = t.elapsed().as_secs_f64();
    let cpu = own_cpu_secs(daemon.pid) - cpu0;
    assert_eq!(job["state"], "succeeded", "{job}");
    // The agent writes its own log file: the daemon copies nothing. Piping
    // the output through the daemon cost it about a core (issue 13); this
    // bound fails on any return to that, with room for a loaded host.
    assert!(
        cpu < 0.5 * wall,
        "the daemon used {cpu:.2} s of CPU while {mib} MiB were written in {wall:.2} s"
    );
    // Rotation kept the disk bounded: the live file and `log_keep` = 1 rotated one.
    let logs = env.state().join("logs/jobs");
    let mut total = 0;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&logs).unwrap().flatten() {
        let len = entry.metadata().unwrap().len();
        total += len;
        files.push((entry.file_name().to_string_lossy().into_owned(), len));
    }
    assert!(files.len() <= 2, "log_keep = 1 keeps one rotated file: {files:?}");
    let live = files.iter().find(|(n, _)| n == &format!("{id}.log")).map_or(0, |f| f.1);
    assert!(live <= 4 << 20, "the live log was rotated at its end: {files:?}");
    assert!(total < mib << 20, "rotation dropped old output: {files:?}");
    eprintln!(
        "writer: {mib} MiB in {wall:.2} s ({:.0} MiB/s); daemon CPU {cpu:.2} s ({:.1} % of a core); \
         /health/live worst {worst_live:?}; logs on disk {:.1} MiB",
        mib as f64 / wall,
        100.0 * cpu / wall,
        total as f64 / (1 << 20) as f64
    );
    let (_, code) = daemon.terminate_timed(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", daemon.log());
}
