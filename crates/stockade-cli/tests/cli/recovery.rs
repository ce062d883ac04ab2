//! Crash recovery of the real `stockade daemon` binary (issue 4 item 5).
//!
//! `kill_9_recovery_accounts_for_every_acknowledged_job` submits ~200 jobs,
//! SIGKILLs the daemon while jobs are queued, running and still being
//! submitted, starts it again on the same state directory and checks that
//! every acknowledged job is still there, that runs the dead daemon left in
//! their boxes were adopted by the new one (same pid, same run, same
//! attempt: issue 10), that no job ran twice past its attempt fence (from
//! the store's run rows), and that SIGTERM then stops everything with exit 0.
//! `survival.rs` has the crash tests of issue 10 proper. `second_daemon_on_same_state_dir_refuses` checks the
//! state-directory lock from the outside.
//!
//! Both need root (the boxes are real cgroups under the fixed `stockade`
//! parent) and skip with a printed reason otherwise. Every process they start
//! is killed by pid on the way out, and box directories of this test's
//! template (named with the test's pid) are removed even when an assertion
//! fails.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use stockade_proto::{ExitCause, JobId, JobState};
use stockade_store::{Store, StoreOptions};

const BIN: &str = env!("CARGO_BIN_EXE_stockade");

/// Jobs that outlive the first daemon: long enough that only a kill ends them
/// within the test, short enough that a leak is bounded.
const LONG_JOBS: usize = 10;
/// Jobs that finish on their own, at 0.2 s each.
const SHORT_JOBS: usize = 190;
/// Pool limit: the long jobs hold half of it, the short ones cycle through the rest.
const MAX_CONCURRENCY: usize = 20;
/// Extra one-by-one submissions raced against the SIGKILL.
const RACED_JOBS: usize = 100;

// ---------------------------------------------------------------- the tests

#[test]
fn kill_9_recovery_accounts_for_every_acknowledged_job() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let t0 = Instant::now();
    let env = TestEnv::new("rcv");
    let _boxes = BoxSweeper { prefix: format!("{}.", env.template) };
    let mut first = Daemon::start(&env, "first");
    first.wait_live(Duration::from_secs(20));
    if let Some(reason) = no_real_boxes(&first.api) {
        eprintln!("skipped: {reason}");
        return;
    }
    let api = first.api.clone();

    // Long jobs first and with a higher priority, so they hold their slots in
    // both daemons whatever the short jobs do.
    let long_req: Vec<Value> = (0..LONG_JOBS)
        .map(|_| json!({"template": env.template, "args": ["30"], "priority": 10}))
        .collect();
    let long_ids: BTreeSet<u64> = api.submit_batch(&long_req).into_iter().collect();
    assert_eq!(long_ids.len(), LONG_JOBS, "the long batch should be acknowledged id by id");

    // Short jobs: half one by one, half in batches of 19.
    let mut short_ids = BTreeSet::new();
    for _ in 0..SHORT_JOBS / 2 {
        short_ids.insert(api.submit_one(&json!({"template": env.template, "args": ["0.2"]})));
    }
    let batch: Vec<Value> =
        (0..19).map(|_| json!({"template": env.template, "args": ["0.2"]})).collect();
    for _ in 0..(SHORT_JOBS - SHORT_JOBS / 2) / 19 {
        short_ids.extend(api.submit_batch(&batch));
    }
    assert_eq!(short_ids.len(), SHORT_JOBS, "every short submission should get its own id");

    // Kill only once the daemon is in the middle of things: every long job
    // running, some short ones done, many still queued.
    let mut running_before: BTreeMap<u64, Proc> = BTreeMap::new();
    wait_until(Duration::from_secs(30), "long jobs running and short jobs half-way", || {
        let running = api.jobs("running");
        let succeeded = api.jobs("succeeded").len();
        let queued = api.jobs("queued").len();
        let long_running = running.iter().filter(|j| long_ids.contains(&id_of(j))).count();
        for job in &running {
            if let Some(pid) = job["pid"].as_u64()
                && let Some(proc_) = Proc::find(pid as u32)
            {
                running_before.insert(id_of(job), proc_);
            }
        }
        (long_running == LONG_JOBS && succeeded >= 10 && queued >= 50)
            .then_some(())
            .ok_or(format!("long running {long_running}, succeeded {succeeded}, queued {queued}"))
    });
    let long_procs: Vec<Proc> =
        long_ids.iter().map(|id| running_before.get(id).cloned().expect("long job pid")).collect();
    let _leftovers = Leftovers(long_procs.clone());

    // Race one-by-one submissions against the kill: whatever was acknowledged
    // must survive it.
    let stop_racing = Arc::new(AtomicBool::new(false));
    let raced = Arc::new(AtomicUsize::new(0));
    let racer = {
        let api = api.clone();
        let (stop, raced) = (stop_racing.clone(), raced.clone());
        let template = env.template.clone();
        std::thread::spawn(move || {
            let mut acked = Vec::new();
            while acked.len() < RACED_JOBS && !stop.load(Ordering::Relaxed) {
                match api.post("/api/jobs", &json!({"template": template, "args": ["0.2"]})) {
                    Ok((201, body)) => acked.push(id_of(&body)),
                    _ => break,
                }
                raced.store(acked.len(), Ordering::Relaxed);
            }
            acked
        })
    };
    wait_until(Duration::from_secs(10), "some raced submissions acknowledged", || {
        let n = raced.load(Ordering::Relaxed);
        (n >= 5).then_some(()).ok_or(format!("acknowledged {n}"))
    });
    let status = first.kill_9();
    assert_eq!(status.code(), None, "the first daemon should die by SIGKILL, not exit");
    stop_racing.store(true, Ordering::Relaxed);
    let raced_ids: BTreeSet<u64> = racer.join().expect("racer thread").into_iter().collect();
    assert!(!raced_ids.is_empty(), "the racer got no submission acknowledged before the kill");

    // The agents outlive their daemon (`stockade daemon` lets them): the next
    // daemon must find and adopt them.
    for p in &long_procs {
        assert!(
            p.alive(),
            "long job pid {} died with the first daemon; recovery is untested",
            p.pid
        );
    }

    let mut second = Daemon::start(&env, "second");
    second.wait_live(Duration::from_secs(20));
    let api = second.api.clone();
    let acked: BTreeSet<u64> =
        long_ids.iter().chain(&short_ids).chain(&raced_ids).copied().collect();
    wait_until(Duration::from_secs(40), "every acknowledged job terminal or running again", || {
        let waiting: Vec<u64> = api
            .jobs("queued,running")
            .iter()
            .map(id_of)
            .filter(|id| acked.contains(id) && !long_ids.contains(id))
            .collect();
        let long_running =
            api.jobs("running").iter().filter(|j| long_ids.contains(&id_of(j))).count();
        (waiting.is_empty() && long_running == LONG_JOBS)
            .then_some(())
            .ok_or(format!("{} short jobs not done, {long_running} long running", waiting.len()))
    });

    let mut second_long_procs = Vec::new();
    for &id in &acked {
        let (code, job) = api.get(&format!("/api/jobs/{id}")).expect("GET job");
        assert_eq!(code, 200, "acknowledged job {id} is missing after the crash: {job}");
        let attempt = job["attempt"].as_u64().unwrap_or(0);
        let max_attempts = job["max_attempts"].as_u64().unwrap_or(0);
        assert!(
            attempt >= 1 && attempt <= max_attempts,
            "job {id}: attempt {attempt}/{max_attempts}"
        );
        if long_ids.contains(&id) {
            assert_eq!(job["state"], "running", "long job {id}: {job}");
            assert_eq!(attempt, 1, "long job {id} should be adopted on its first attempt: {job}");
            let pid = job["pid"].as_u64().expect("running job has a pid") as u32;
            let before = running_before.get(&id).expect("long job's first pid");
            assert_eq!(pid, before.pid, "long job {id} was not adopted (new pid)");
            assert!(before.alive(), "long job {id}'s adopted process died");
            second_long_procs.push(before.clone());
        } else {
            assert_eq!(job["state"], "succeeded", "short job {id}: {job}");
            assert_eq!(job["cause"]["kind"], "exited", "short job {id}: {job}");
        }
    }
    let _leftovers2 = Leftovers(second_long_procs.clone());

    let status = second.terminate(Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM should stop the daemon cleanly; log:\n{}",
        second.log()
    );
    for p in &second_long_procs {
        assert!(!p.alive(), "pid {} of a long job outlived the daemon's SIGTERM", p.pid);
    }
    let occupied = BoxSweeper { prefix: format!("{}.", env.template) }.occupied();
    assert!(occupied.is_empty(), "boxes still hold processes after shutdown: {occupied:?}");

    check_fences(&env.db(), &acked, &long_ids);
    eprintln!(
        "recovery: {} acknowledged ({} raced against the kill), {} long runs adopted, {:?}",
        acked.len(),
        raced_ids.len(),
        long_procs.len(),
        t0.elapsed()
    );
}

#[test]
fn second_daemon_on_same_state_dir_refuses() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let env = TestEnv::new("dup");
    let _boxes = BoxSweeper { prefix: format!("{}.", env.template) };
    let mut first = Daemon::start(&env, "first");
    first.wait_live(Duration::from_secs(20));

    let mut second = Daemon::start(&env, "second");
    let status = second.wait_exit(Duration::from_secs(20));
    let log = second.log();
    assert_ne!(
        status.code(),
        Some(0),
        "a second daemon on the same state dir must fail; log:\n{log}"
    );
    assert!(
        status.code().is_some(),
        "the second daemon should exit, not die by a signal: {status:?}"
    );
    assert!(
        log.contains(&format!("pid {}", first.pid)),
        "the refusal should name the running daemon's pid {}; log:\n{log}",
        first.pid
    );
    // The refusal must not have disturbed the first daemon.
    let (code, _) = first.api.get("/health/live").expect("first daemon still answers");
    assert_eq!(code, 200);

    let status = first.terminate(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "log:\n{}", first.log());
}

#[test]
fn a_deleted_or_truncated_store_refuses_to_start_until_new_store() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new("lost");
    let _boxes = BoxSweeper { prefix: format!("{}.", env.template) };
    let state = env.db().parent().unwrap().to_path_buf();
    // A state dir someone made world-readable before the first start.
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut first = Daemon::start(&env, "first");
    first.wait_live(Duration::from_secs(20));
    let job = first.api.submit_one(&json!({"template": env.template, "args": ["0.1"]}));
    assert_eq!(first.terminate(Duration::from_secs(20)).code(), Some(0), "{}", first.log());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700, "state dir tightened");
    assert_eq!(mode(&env.db()), 0o600, "store private");

    let refused = |name: &str, found: &str| {
        let mut daemon = Daemon::start(&env, name);
        let status = daemon.wait_exit(Duration::from_secs(20));
        let log = daemon.log();
        assert_eq!(status.code(), Some(1), "refused with exit 1; log:\n{log}");
        let db = env.db().display().to_string();
        assert!(
            log.contains(&format!("stockade: cannot open the store: store {db} is {found}")),
            "{log}"
        );
        assert!(log.contains("\n  hint: ") && log.contains("--new-store"), "{log}");
    };
    std::fs::remove_file(env.db()).unwrap();
    refused("deleted", "missing");
    assert!(!env.db().exists(), "nothing was created in its place");

    let mut fresh = Daemon::start_with(&env, "fresh", &["--new-store"]);
    fresh.wait_live(Duration::from_secs(20));
    let (code, _) = fresh.api.get(&format!("/api/jobs/{job}")).unwrap();
    assert_eq!(code, 404, "a new, empty store");
    assert_eq!(fresh.terminate(Duration::from_secs(20)).code(), Some(0), "{}", fresh.log());

    std::fs::File::create(env.db()).unwrap(); // truncate to 0 bytes
    refused("truncated", "empty");
    assert_eq!(std::fs::metadata(env.db()).unwrap().len(), 0, "left as found");
}

// ---------------------------------------------------------- the fence check

/// From the store's run rows, after the daemon has stopped: every job's runs
/// are attempts 1..=attempt, once each; a succeeded job succeeded exactly
/// once, in its last run; the long jobs' one run was adopted and ended by
/// the second daemon's SIGTERM.
fn check_fences(db: &Path, acked: &BTreeSet<u64>, long_ids: &BTreeSet<u64>) {
    let store = Store::open(db, StoreOptions::default()).expect("open the store after shutdown");
    for &id in acked {
        let job = store.job(JobId(id)).expect("read job").expect("acknowledged job in the store");
        let runs = store.runs_of_job(JobId(id)).expect("read runs");
        let attempts: Vec<u32> = runs.iter().map(|r| r.attempt).collect();
        // One run per attempt, in order; an interrupted run (the daemon died
        // before its pid was journalled) gives its attempt back.
        let mut expected = Vec::new();
        let mut next = 1;
        for run in &runs {
            expected.push(next);
            if run.cause != Some(ExitCause::Interrupted) {
                next += 1;
            }
        }
        assert_eq!(attempts, expected, "job {id}: one run per attempt, in order");
        assert_eq!(attempts.last().copied(), Some(job.attempt).filter(|&a| a > 0), "job {id}");
        assert!(job.attempt <= job.max_attempts, "job {id} ran past max_attempts");
        for run in &runs {
            assert!(run.ended_at.is_some(), "job {id} run {} never ended", run.id);
        }
        // Never two runs of one job at once: each ended before the next began.
        for pair in runs.windows(2) {
            let ended = pair[0].ended_at.unwrap_or(u64::MAX);
            assert!(
                ended <= pair[1].started_at,
                "job {id}: run {} ended at {ended}, after run {} started at {}",
                pair[0].id,
                pair[1].id,
                pair[1].started_at
            );
        }
        let (last, earlier) = runs.split_last().expect("every job ran at least once");
        for run in earlier {
            assert!(
                matches!(run.cause, Some(ExitCause::Lost | ExitCause::Interrupted)),
                "job {id} run {}: only lost or interrupted runs run again here: {:?}",
                run.id,
                run.cause
            );
        }
        let successes =
            runs.iter().filter(|r| r.cause == Some(ExitCause::Exited { code: 0 })).count();
        if long_ids.contains(&id) {
            assert_eq!(job.attempt, 1, "long job {id}: adopted, never run again");
            assert_eq!(runs.len(), 1, "long job {id}: one run across both daemons");
            assert_eq!(
                last.cause,
                Some(ExitCause::Stopped),
                "long job {id}'s adopted run ends by SIGTERM"
            );
            assert_eq!(
                job.state,
                JobState::Queued,
                "a job stopped by shutdown waits for the next start"
            );
            assert_eq!(successes, 0);
        } else {
            assert_eq!(job.state, JobState::Succeeded, "short job {id}");
            assert_eq!(successes, 1, "short job {id} must have succeeded exactly once: {runs:?}");
            assert_eq!(last.cause, Some(ExitCause::Exited { code: 0 }), "job {id}");
        }
    }
}

// ------------------------------------------------------------------ fixture

pub(crate) fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root: the daemon creates real cgroup boxes".into());
    }
    if !Path::new("/sys/fs/cgroup").is_dir() {
        return Some("no /sys/fs/cgroup on this host".into());
    }
    None
}

/// Recovery kills by box: with the `none` backend there is nothing to reclaim.
pub(crate) fn no_real_boxes(api: &Api) -> Option<String> {
    let (_, status) = api.get("/api/status").ok()?;
    let sandbox = status["sandbox"].as_str().unwrap_or("").to_string();
    (!sandbox.starts_with("cgroup")).then(|| format!("the daemon runs without cgroups ({sandbox})"))
}

/// A tempdir with a spec whose job template is named after this test process.
pub(crate) struct TestEnv {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) spec: PathBuf,
    pub(crate) template: String,
}

impl TestEnv {
    pub(crate) fn new(tag: &str) -> TestEnv {
        TestEnv::with_units(tag, |template| {
            format!(
                r#"[pool.p]
max_concurrency = {MAX_CONCURRENCY}

[job.{template}]
command = ["sleep"]
pool = "p"
retries = {{ max = 3, on = ["exited", "lost"] }}
"#
            )
        })
    }

    /// A spec with the common `[daemon]` and limits, and the units `units`
    /// writes for the template name it is given.
    pub(crate) fn with_units(tag: &str, units: impl FnOnce(&str) -> String) -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix(&format!("stockade-{tag}-"))
            .tempdir()
            .expect("tempdir");
        let template = format!("{tag}-{}", std::process::id());
        let state = dir.path().join("state");
        let spec = dir.path().join("stockade.toml");
        let text = format!(
            r#"[daemon]
state_dir = "{state}"

[defaults.limits]
memory = "64MiB"
pids = 16

{units}"#,
            state = state.display(),
            units = units(&template),
        );
        std::fs::write(&spec, text).expect("write spec");
        TestEnv { dir, spec, template }
    }

    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.path().join("state").join("stockade.sock")
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.dir.path().join("state").join("stockade.db")
    }
}

/// One `stockade daemon` child; SIGKILLed by pid on drop if still running.
pub(crate) struct Daemon {
    pub(crate) child: Option<Child>,
    pub(crate) pid: u32,
    pub(crate) api: Api,
    pub(crate) log: PathBuf,
}

impl Daemon {
    pub(crate) fn start(env: &TestEnv, name: &str) -> Daemon {
        Daemon::start_with(env, name, &[])
    }

    pub(crate) fn start_with(env: &TestEnv, name: &str, extra: &[&str]) -> Daemon {
        let log = env.dir.path().join(format!("{name}.log"));
        let stderr = std::fs::File::create(&log).expect("daemon log");
        let child = Command::new(BIN)
            .args(["daemon", "-f"])
            .arg(&env.spec)
            .args(extra)
            .env("STOCKADE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn stockade daemon");
        Daemon { pid: child.id(), child: Some(child), api: Api { socket: env.socket() }, log }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn wait_live(&mut self, within: Duration) {
        let log = self.log.clone();
        let child = self.child.as_mut().expect("daemon running");
        let api = self.api.clone();
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
    }

    pub(crate) fn kill_9(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        child.kill().expect("SIGKILL the daemon");
        child.wait().expect("reap the daemon")
    }

    pub(crate) fn terminate(&mut self, within: Duration) -> ExitStatus {
        // SAFETY: kill(2) on the pid of our own unreaped child: it cannot be reused.
        let rc = unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        assert_eq!(rc, 0, "SIGTERM to the daemon");
        self.wait_exit(within)
    }

    pub(crate) fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("daemon running");
        let mut status = None;
        wait_until(within, "the daemon to exit", || match child.try_wait() {
            Ok(Some(s)) => {
                status = Some(s);
                Ok(())
            }
            other => Err(format!("{other:?}")),
        });
        self.child = None;
        status.expect("exit status")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A process known by pid and start time, so a reused pid is never mistaken
/// for it (nor killed in its place).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Proc {
    pub(crate) pid: u32,
    pub(crate) start_ticks: u64,
}

impl Proc {
    pub(crate) fn find(pid: u32) -> Option<Proc> {
        let (state, start_ticks) = proc_stat(pid)?;
        (state != 'Z').then_some(Proc { pid, start_ticks })
    }

    pub(crate) fn alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((state, start)) if state != 'Z' && start == self.start_ticks)
    }
}

/// State letter and start time (field 22) of `/proc/PID/stat`.
pub(crate) fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Kills, by pid, the listed processes that are still alive when dropped.
pub(crate) struct Leftovers(pub(crate) Vec<Proc>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for p in &self.0 {
            if p.alive() {
                // SAFETY: kill(2) of a pid whose start time we just matched.
                unsafe { libc::kill(p.pid as i32, libc::SIGKILL) };
            }
        }
    }
}

/// The box directories of this test's template, in every cgroup hierarchy
/// (v1 puts the memory boxes under the daemon's own memory cgroup). On drop,
/// kills what is left in them by pid and removes them.
pub(crate) struct BoxSweeper {
    pub(crate) prefix: String,
}

impl BoxSweeper {
    pub(crate) fn dirs(&self) -> Vec<PathBuf> {
        let mut found = BTreeSet::new();
        for own in stockade_sandbox::own_cgroup_dirs() {
            let Ok(entries) = std::fs::read_dir(own.join("stockade")) else { continue };
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&self.prefix) {
                    found.insert(e.path().canonicalize().unwrap_or(e.path()));
                }
            }
        }
        found.into_iter().collect()
    }

    /// Box directories that still hold a process.
    pub(crate) fn occupied(&self) -> Vec<PathBuf> {
        self.dirs().into_iter().filter(|d| !box_pids(d).is_empty()).collect()
    }
}

pub(crate) fn box_pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

impl Drop for BoxSweeper {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in self.dirs() {
            while Instant::now() < deadline {
                let pids = box_pids(&dir);
                for pid in &pids {
                    // SAFETY: kill(2) of a pid listed in a box only this test's template uses.
                    unsafe { libc::kill(*pid, libc::SIGKILL) };
                }
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Poll `check` every 20 ms until it returns `Ok`, or panic with its last
/// complaint after `within`.
pub(crate) fn wait_until<F: FnMut() -> Result<(), String>>(
    within: Duration,
    what: &str,
    mut check: F,
) {
    let deadline = Instant::now() + within;
    loop {
        let last = match check() {
            Ok(()) => return,
            Err(e) => e,
        };
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}: {last}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn id_of(job: &Value) -> u64 {
    job["id"].as_u64().unwrap_or_else(|| panic!("no id in {job}"))
}

// ------------------------------------------------------------- HTTP client

/// A minimal HTTP/1.1 client over the daemon's Unix socket: one request per
/// connection, `Connection: close`.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    pub(crate) socket: PathBuf,
}

impl Api {
    pub(crate) fn get(&self, path: &str) -> std::io::Result<(u16, Value)> {
        self.request("GET", path, None)
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> std::io::Result<(u16, Value)> {
        self.request("POST", path, Some(body))
    }

    pub(crate) fn submit_one(&self, request: &Value) -> u64 {
        let (code, body) = self.post("/api/jobs", request).expect("POST /api/jobs");
        assert_eq!(code, 201, "submission refused: {body}");
        assert_eq!(body["status"], "queued", "{body}");
        id_of(&body)
    }

    pub(crate) fn submit_batch(&self, requests: &[Value]) -> Vec<u64> {
        let (code, body) =
            self.post("/api/jobs", &Value::from(requests.to_vec())).expect("POST batch");
        assert_eq!(code, 201, "batch refused: {body}");
        let ids: Vec<u64> = body.as_array().expect("array reply").iter().map(id_of).collect();
        assert_eq!(ids.len(), requests.len(), "one id per job in the batch");
        ids
    }

    pub(crate) fn jobs(&self, states: &str) -> Vec<Value> {
        let (code, body) =
            self.get(&format!("/api/jobs?state={states}&limit=10000")).expect("GET /api/jobs");
        assert_eq!(code, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: stockade\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        parse_response(&raw).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad HTTP response: {:?}", String::from_utf8_lossy(&raw)),
            )
        })
    }
}

pub(crate) fn parse_response(raw: &[u8]) -> Option<(u16, Value)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    let value = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).ok()? };
    Some((code, value))
}

pub(crate) fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
