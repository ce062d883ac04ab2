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

use crate::support::{
    BoxSweeper, Daemon, Leftovers, Proc, TestEnv, id_of, no_real_boxes, skip_reason, wait_until,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use stockade_proto::{ExitCause, JobId, JobState};
use stockade_store::{Store, StoreOptions};

/// Jobs that outlive the first daemon: long enough that only a kill ends them
/// within the test, short enough that a leak is bounded.
const LONG_JOBS: usize = 10;
/// Jobs that finish on their own, at 0.2 s each.
const SHORT_JOBS: usize = 190;
// The pool limit is `TestEnv::new`'s 20: the long jobs hold half of it, the
// short ones cycle through the rest.
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
    let mut first = Daemon::on(&env, "first");
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

    let mut second = Daemon::on(&env, "second");
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
    let mut first = Daemon::on(&env, "first");
    first.wait_live(Duration::from_secs(20));

    let mut second = Daemon::on(&env, "second");
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
    let mut first = Daemon::on(&env, "first");
    first.wait_live(Duration::from_secs(20));
    let job = first.api.submit_one(&json!({"template": env.template, "args": ["0.1"]}));
    assert_eq!(first.terminate(Duration::from_secs(20)).code(), Some(0), "{}", first.log());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700, "state dir tightened");
    assert_eq!(mode(&env.db()), 0o600, "store private");

    let refused = |name: &str, found: &str| {
        let mut daemon = Daemon::on(&env, name);
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

    let mut fresh = Daemon::on_with(&env, "fresh", &["--new-store"], &[]);
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
        // One run per attempt, in order. A run the daemon itself ended gives
        // its attempt back: an interrupted one (the daemon died before its pid
        // was journalled), and one its shutdown stopped and requeued (a
        // `stopped` run that ran again, or that left its job queued).
        let mut expected = Vec::new();
        let mut next = 1;
        for (i, run) in runs.iter().enumerate() {
            expected.push(next);
            let requeued = i + 1 < runs.len() || job.state == JobState::Queued;
            let refunded = run.cause == Some(ExitCause::Interrupted)
                || (run.cause == Some(ExitCause::Stopped) && requeued);
            if !refunded {
                next += 1;
            }
        }
        assert_eq!(attempts, expected, "job {id}: one run per attempt, in order");
        assert_eq!(job.attempt, next - 1, "job {id}: attempts counted, runs {runs:?}");
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
            // Its one run, adopted, was stopped by the second daemon's
            // shutdown, which gives the attempt back for the next start.
            assert_eq!(job.attempt, 0, "long job {id}: adopted, never run again, refunded");
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
