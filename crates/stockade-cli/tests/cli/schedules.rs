//! A job template with `every = "1s"` against the real binary: scheduled runs
//! appear as ordinary jobs, `overlap = "skip"` holds while a slow run is
//! live, and `status` / `ps` show the next run.

use crate::support::wait_until;
use crate::support::{Daemon, text};
use serde_json::Value;
use std::time::Duration;

const SPEC: &str = r#"
[job.sweep]
command = ["sleep", "2.5"]
every = "1s"
isolation = "none"
"#;

fn json(daemon: &Daemon, args: &[&str]) -> Value {
    let out = daemon.run(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn sweep_jobs(daemon: &Daemon) -> Vec<Value> {
    let ps = json(daemon, &["ps", "--all", "--json"]);
    let jobs = ps["jobs"].as_array().cloned().unwrap_or_default();
    jobs.into_iter().filter(|j| j["template"] == "sweep").collect()
}

fn events_of(daemon: &Daemon, kind: &str) -> Vec<Value> {
    let out = daemon.run(&["events", "--json", "--since", "0", "--type", kind]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn every_second_submits_ordinary_jobs_and_skip_holds_while_one_runs() {
    let daemon = Daemon::start(SPEC);
    // The first slot submits a scheduled job that runs like any other.
    wait_until(Duration::from_secs(20), "a scheduled job running", || {
        let jobs = sweep_jobs(&daemon);
        match jobs.iter().find(|j| j["state"] == "running") {
            Some(j) if j["source"] == "schedule" => Ok(()),
            Some(j) => Err(format!("running without source = schedule: {j}")),
            None => Err(format!("{jobs:?}")),
        }
    });
    // A 2.5 s run under a 1 s schedule: the slots that come while it runs
    // are skipped, never a second live job.
    wait_until(Duration::from_secs(20), "a skipped slot and a second run", || {
        let live = sweep_jobs(&daemon)
            .into_iter()
            .filter(|j| j["state"] == "running" || j["state"] == "queued")
            .count();
        assert!(live <= 1, "overlap = \"skip\" let {live} runs live at once");
        let skipped = events_of(&daemon, "schedule_skipped");
        let done = sweep_jobs(&daemon).iter().filter(|j| j["state"] == "succeeded").count();
        if !skipped.is_empty() && done >= 1 {
            let reason = skipped[0]["reason"].as_str().unwrap_or_default();
            assert!(reason.contains("overlap = \"skip\""), "{reason}");
            Ok(())
        } else {
            Err(format!("{} skipped, {done} succeeded", skipped.len()))
        }
    });
    let fired = events_of(&daemon, "schedule_fired");
    assert!(!fired.is_empty() && fired.iter().all(|e| e["unit"] == "sweep"), "{fired:?}");
    // A finished scheduled job is an ordinary job with a source.
    let done: Vec<Value> =
        sweep_jobs(&daemon).into_iter().filter(|j| j["state"] == "succeeded").collect();
    assert_eq!(done[0]["source"], "schedule");

    let api = json(&daemon, &["status", "--json"]);
    let schedule = &api["schedules"][0];
    assert_eq!(
        (schedule["template"].as_str(), schedule["rule"].as_str()),
        (Some("sweep"), Some("every 1s"))
    );
    assert!(schedule["next_at"].as_u64().is_some(), "{schedule}");
    for verb in ["status", "ps"] {
        let out = daemon.run(&[verb]);
        let shown = text(&out.stdout);
        let row = shown
            .lines()
            .find(|l| l.starts_with("sweep "))
            .unwrap_or_else(|| panic!("{verb}:\n{shown}"));
        assert!(shown.contains("SCHEDULE") && shown.contains("NEXT"), "{verb}:\n{shown}");
        assert!(
            row.contains("every 1s") && row.contains(" in ") && row.contains("UTC)"),
            "{verb}: {row}"
        );
        assert!(row.contains("skip, catch_up none"), "{verb}: {row}");
    }
    assert_eq!(daemon.stop(), Some(0));
}
