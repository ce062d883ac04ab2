//! Crash safety: a child process submits jobs and prints each acknowledged id;
//! it is SIGKILLed midway; every id it printed must be in the store.
//!
//! The child is this test binary re-executed with `STOCKADE_STORE_CRASH_DB`
//! set, running only [`child_submits_until_killed`].

use crate::setup::new_job;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use stockade_proto::JobId;
use stockade_store::{Store, StoreError, StoreOptions};

const CHILD_ENV: &str = "STOCKADE_STORE_CRASH_DB";
const SUBMITTERS: usize = 8;

/// The child's side. Without the variable (a normal test run) it has nothing
/// to do and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_submits_until_killed() {
    let Some(db) = std::env::var_os(CHILD_ENV) else {
        println!("skipped: only runs as the child of crash::acknowledged_jobs_survive_sigkill");
        return;
    };
    let store = Store::open(db.as_ref(), StoreOptions::default()).unwrap();
    for _ in 0..SUBMITTERS {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                match store.submit_job(new_job("crash", 0)).await {
                    // Printed only after the commit returned: an acknowledgement.
                    Ok((job, _)) => println!("acked {}", job.id),
                    Err(err) => {
                        // Exit so the parent sees EOF instead of waiting forever.
                        eprintln!("child: submit failed: {err}");
                        std::process::exit(1);
                    }
                }
            }
        });
    }
    // The submitters run until the parent kills this process.
    std::future::pending::<()>().await;
}

#[test]
fn acknowledged_jobs_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.sqlite3");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash::child_submits_until_killed", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child_pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let mut checked_lock = false;
    while acked.len() < 500 {
        let Some(line) = lines.next() else { break };
        if let Some(id) = line.unwrap().strip_prefix("acked ") {
            acked.push(JobId(id.parse().unwrap()));
        }
        if !checked_lock && acked.len() == 10 {
            // Another process holds the store: it must name that process.
            let err = Store::open(&db, StoreOptions::default()).err().expect("locked");
            assert!(
                matches!(err, StoreError::Locked { holder_pid: Some(pid), .. } if pid == child_pid),
                "{err}"
            );
            checked_lock = true;
        }
    }
    assert_eq!(acked.len(), 500, "the child stopped early");
    child.kill().unwrap(); // SIGKILL, mid-submission
    // Lines already written before the kill are acknowledgements too.
    for line in lines {
        if let Some(id) = line.unwrap().strip_prefix("acked ") {
            acked.push(JobId(id.parse().unwrap()));
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed: {status}");

    let store = Store::open(&db, StoreOptions::default()).expect("reopen after SIGKILL");
    let missing: Vec<JobId> =
        acked.iter().copied().filter(|id| store.job(*id).unwrap().is_none()).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged jobs lost: {missing:?}",
        missing.len(),
        acked.len()
    );
    println!("{} acknowledged jobs all present after SIGKILL", acked.len());
}
