//! Nothing lost when stockade itself dies (issue 10), with the real binary
//! and real walled boxes.
//!
//! `a_killed_daemon_adopts_every_agent_twice_in_a_row`: services (one
//! replicated service, each replica printing a counter every 20 ms) and
//! jobs (running, about to end during the outage, and queued) are left by a
//! SIGKILLed daemon; the next daemon adopts them — every replica keeps its
//! pid and a restart count of 0, no acknowledged job is lost or runs twice,
//! the jobs that ended while no daemon ran are recorded with their exact
//! exit codes, and each replica's log holds its counter without a gap. The
//! second daemon is SIGKILLed at once too, and a third adopts the same
//! processes again.
//!
//! `an_init_killed_from_outside_is_interrupted_and_requeued`: the box init of
//! a running job is SIGKILLed while no daemon runs; the next daemon ends the
//! run `interrupted` with a post-mortem and runs the job again at the same
//! attempt.
//!
//! Counts are knobs: `STOCKADE_SURVIVAL_SERVICES` (default 20) and
//! `STOCKADE_SURVIVAL_JOBS` (default 30; the issue's 200 + 300 run in about
//! a minute on a 2-core host).

use crate::support::{
    Api, BoxSweeper, Daemon, Leftovers, Proc, TestEnv, id_of, no_real_boxes, skip_reason,
    wait_until,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use stockade_proto::{ExitCause, JobId, JobState};
use stockade_store::{Store, StoreOptions};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The spec: a counting service and a job template `sh -c 'sleep $1; exit $2'`.
fn env(tag: &str, services: usize, pool: usize) -> TestEnv {
    TestEnv::with_units(tag, |t| {
        format!(
            r#"[service.{t}-svc]
command = ["sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); sleep 0.02; done"]
replicas = {services}

[pool.p]
max_concurrency = {pool}

[job.{t}]
command = ["sh", "-c", "sleep $1; exit $2", "job"]
pool = "p"
"#
        )
    })
}

/// Every replica, by index: (pid, restarts, state).
fn replicas(api: &Api) -> BTreeMap<u64, (u64, u64, String)> {
    let (_, status) = api.get("/api/status").expect("GET /api/status");
    status["services"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let idx = r["replica"].as_u64().unwrap_or(0);
            let pid = r["pid"].as_u64().unwrap_or(0);
            let restarts = r["restarts"].as_u64().unwrap_or(0);
            (idx, (pid, restarts, r["state"].as_str().unwrap_or("").to_string()))
        })
        .collect()
}

fn all_running(api: &Api, n: usize) -> Result<BTreeMap<u64, (u64, u64, String)>, String> {
    let now = replicas(api);
    let running = now.values().filter(|(pid, _, s)| *pid > 0 && s == "running").count();
    (running == n).then_some(now.clone()).ok_or(format!("{running}/{n} replicas running"))
}

/// Processes holding the state directory's lock file open: (pid, comm).
fn lock_holders(db: &std::path::Path) -> Vec<(u32, String)> {
    let mut lock = db.as_os_str().to_owned();
    lock.push(".lock");
    let lock = std::path::PathBuf::from(lock);
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        if fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == lock)) {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            found.push((pid, comm.trim().to_string()));
        }
    }
    found
}

/// Check that a replica's log is an unbroken count from 0.
fn check_counter(path: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut expect = 0u64;
    for record in text.lines() {
        // Each line is a tagged record (`<time> O <text>`), written by the box's init.
        let parsed = stockade_proto::LogRecord::parse(record.as_bytes());
        assert!(parsed.ts_ns.is_some(), "{}: untagged {record:?}", path.display());
        if parsed.start {
            continue; // a run-start marker (the replica was restarted or adopted)
        }
        let line = String::from_utf8_lossy(parsed.text);
        let n: u64 = line.trim().parse().unwrap_or_else(|_| panic!("{}: {line:?}", path.display()));
        assert_eq!(n, expect, "{}: the counter jumped from {} to {n}", path.display(), expect - 1);
        expect += 1;
    }
    expect
}

#[test]
fn a_killed_daemon_adopts_every_agent_twice_in_a_row() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let t0 = Instant::now();
    let (services, jobs) =
        (knob("STOCKADE_SURVIVAL_SERVICES", 20), knob("STOCKADE_SURVIVAL_JOBS", 30));
    // A third of the jobs stay queued across the kill.
    let pool = jobs - jobs / 3;
    let env = env("srv", services, pool);
    let _boxes = (
        BoxSweeper { prefix: format!("{}.", env.template) },
        BoxSweeper { prefix: format!("{}-svc.", env.template) },
    );
    let mut first = Daemon::on(&env, "first");
    first.wait_live(Duration::from_secs(20));
    if let Some(reason) = no_real_boxes(&first.api) {
        eprintln!("skipped: {reason}");
        return;
    }
    let api = first.api.clone();
    let mut before = BTreeMap::new();
    wait_until(Duration::from_secs(60), "every replica running", || {
        before = all_running(&api, services)?;
        Ok(())
    });
    let svc_procs: Vec<Proc> = before
        .values()
        .map(|(pid, _, _)| Proc::find(*pid as u32).expect("replica process"))
        .collect();
    let _left = Leftovers(svc_procs.clone());
    // Jobs: even ones end during the outage (1.5 s), odd ones after it (10 s);
    // exit code = index % 7 (0 succeeds).
    let requests: Vec<Value> = (0..jobs)
        .map(|i| {
            let secs = if i % 2 == 0 { "1.5" } else { "10" };
            json!({"template": env.template, "args": [secs, (i % 7).to_string()]})
        })
        .collect();
    let ids = api.submit_batch(&requests);
    let code_of: BTreeMap<u64, i64> =
        ids.iter().enumerate().map(|(i, id)| (*id, (i % 7) as i64)).collect();
    // On a loaded host the spawns trickle in: half the pool running is enough.
    wait_until(Duration::from_secs(60), "half the pool running", || {
        let running = api.jobs("running").iter().filter(|j| j["pid"].as_u64().is_some()).count();
        (running >= pool / 2).then_some(()).ok_or(format!("{running}/{pool} running"))
    });
    let job_pids: BTreeMap<u64, u64> =
        api.jobs("running").iter().filter_map(|j| Some((id_of(j), j["pid"].as_u64()?))).collect();

    assert_eq!(first.kill_9().code(), None, "the first daemon dies by SIGKILL");
    // The outage: the short jobs end while no daemon runs.
    std::thread::sleep(Duration::from_millis(2500));
    for p in &svc_procs {
        assert!(p.alive(), "replica pid {} died with its daemon", p.pid);
    }

    let mut daemon = Daemon::on(&env, "second");
    daemon.wait_live(Duration::from_secs(20));
    let adopted_at = Instant::now();
    for round in ["second", "third"] {
        let api = daemon.api.clone();
        let mut after = BTreeMap::new();
        wait_until(Duration::from_secs(20), "every replica adopted", || {
            after = all_running(&api, services)?;
            Ok(())
        });
        for (idx, (pid, restarts, _)) in &before {
            let (pid2, restarts2, _) = &after[idx];
            assert_eq!((pid2, restarts2), (pid, restarts), "replica {idx} after the {round} start");
            assert_eq!(*restarts, 0);
        }
        for (id, pid) in &job_pids {
            let (_, job) = api.get(&format!("/api/jobs/{id}")).expect("GET job");
            // Live and running (a job ending right now shows no run).
            if job["state"] == "running" && job["run"].as_u64().is_some() {
                assert_eq!(
                    job["pid"].as_u64(),
                    Some(*pid),
                    "job {id} adopted ({round} start): {job}"
                );
                assert_eq!(job["attempt"], 1, "job {id}: {job}");
            }
        }
        if round == "second" {
            assert_eq!(daemon.kill_9().code(), None, "the second daemon dies by SIGKILL");
            // A box child cloned a moment before the kill may still be in
            // the kernel's clone when the daemon is reaped; its first act is
            // to close every daemon fd, so only an instant is allowed.
            let deadline = Instant::now() + Duration::from_millis(500);
            let mut holders = lock_holders(&env.db());
            while !holders.is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
                holders = lock_holders(&env.db());
            }
            assert!(holders.is_empty(), "the state lock outlived the daemon, held by {holders:?}");
            daemon = Daemon::on(&env, "third");
            daemon.wait_live(Duration::from_secs(20));
        }
    }
    let api = daemon.api.clone();
    wait_until(Duration::from_secs(60), "every job ended", || {
        let open = api.jobs("queued,running").len();
        (open == 0).then_some(()).ok_or(format!("{open} jobs not ended"))
    });
    for (id, code) in &code_of {
        let (_, job) = api.get(&format!("/api/jobs/{id}")).expect("GET job");
        let want = if *code == 0 { "succeeded" } else { "failed" };
        assert_eq!(job["state"], want, "job {id}: {job}");
        assert_eq!(job["cause"]["kind"], "exited", "job {id}: {job}");
        assert_eq!(
            job["cause"]["code"].as_i64().unwrap_or(0),
            *code,
            "job {id}'s exact code: {job}"
        );
        assert_eq!(job["attempt"], 1, "job {id} ran once: {job}");
    }
    // Let the counters run on after the outages, then read them back.
    std::thread::sleep(Duration::from_millis(300));
    let logs = env.dir.path().join("state").join("logs");
    let mut lines = 0;
    for idx in before.keys() {
        let counted = check_counter(&logs.join(format!("{}-svc.{idx}.log", env.template)));
        // ~50 lines a second since the first start; at least the outage's worth.
        assert!(counted > 100, "replica {idx} counted only {counted}");
        lines += counted;
    }
    let status = daemon.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "SIGTERM stops the daemon; log:\n{}", daemon.log());
    let store = Store::open(&env.db(), StoreOptions::default()).expect("open the store");
    for id in code_of.keys() {
        let runs = store.runs_of_job(JobId(*id)).expect("runs");
        // A run whose box was never made (the daemon died between journalling
        // it and the clone) is interrupted and the attempt runs; nothing else.
        let (never, ran): (Vec<_>, Vec<_>) =
            runs.iter().partition(|r| r.cause == Some(ExitCause::Interrupted));
        assert_eq!(ran.len(), 1, "job {id} ran exactly once: {runs:?}");
        assert!(
            never.iter().all(|r| r.pid.is_none()),
            "job {id}: an interrupted run had started: {runs:?}"
        );
        assert!(runs.iter().all(|r| r.attempt == 1), "job {id}: {runs:?}");
    }
    eprintln!(
        "survival: {services} services and {jobs} jobs across 2 SIGKILLs, {lines} counter lines without a gap, {:?} from the second start to every job ended, {:?} in all",
        adopted_at.elapsed(),
        t0.elapsed()
    );
}

#[test]
fn an_init_killed_from_outside_is_interrupted_and_requeued() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let env = env("irq", 1, 4);
    let _boxes = (
        BoxSweeper { prefix: format!("{}.", env.template) },
        BoxSweeper { prefix: format!("{}-svc.", env.template) },
    );
    let mut first = Daemon::on(&env, "first");
    first.wait_live(Duration::from_secs(20));
    if let Some(reason) = no_real_boxes(&first.api) {
        eprintln!("skipped: {reason}");
        return;
    }
    let api = first.api.clone();
    let id = api.submit_one(&json!({"template": env.template, "args": ["30", "0"]}));
    let mut pid = 0;
    wait_until(Duration::from_secs(20), "the job running", || {
        let (_, job) = api.get(&format!("/api/jobs/{id}")).map_err(|e| e.to_string())?;
        pid = job["pid"].as_u64().unwrap_or(0);
        (pid > 0).then_some(()).ok_or(format!("{job}"))
    });
    let init = Proc::find(pid as u32).expect("the box's init");
    assert_eq!(first.kill_9().code(), None);
    // SAFETY: kill(2) of the box init this test's daemon started (pid and
    // start time just matched by Proc::find).
    unsafe { libc::kill(init.pid as i32, libc::SIGKILL) };
    wait_until(Duration::from_secs(10), "the init gone", || {
        (!init.alive()).then_some(()).ok_or("alive".into())
    });
    let mut second = Daemon::on(&env, "second");
    second.wait_live(Duration::from_secs(20));
    let api = second.api.clone();
    wait_until(Duration::from_secs(20), "the job running again", || {
        let (_, job) = api.get(&format!("/api/jobs/{id}")).map_err(|e| e.to_string())?;
        let again = job["state"] == "running" && job["pid"].as_u64().is_some_and(|p| p != pid);
        again.then_some(()).ok_or(format!("{job}"))
    });
    let (_, job) = api.get(&format!("/api/jobs/{id}")).expect("GET job");
    assert_eq!(job["attempt"], 1, "the interrupted attempt is given back: {job}");
    let status = second.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "log:\n{}", second.log());
    let store = Store::open(&env.db(), StoreOptions::default()).expect("open the store");
    let runs = store.runs_of_job(JobId(id)).expect("runs");
    assert_eq!(runs[0].cause, Some(ExitCause::Interrupted), "{runs:?}");
    let pm = store.postmortem(runs[0].id).expect("read").expect("an interrupted run's post-mortem");
    assert_eq!(pm.cause, ExitCause::Interrupted);
    let record = store.job(JobId(id)).expect("read").expect("the job");
    assert_eq!(record.state, JobState::Queued, "stopped by shutdown, it waits for the next start");
    assert!(
        record.attempt <= record.max_attempts,
        "never ATTEMPT {}/{}",
        record.attempt,
        record.max_attempts
    );
}
