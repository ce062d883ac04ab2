//! The cluster verbs against a real daemon that is not a member: `cluster`
//! and `drain` say so and exit 1; `doctor --cluster` judges a spec's
//! `[cluster]` and asks the running daemon about the database. A real
//! cluster is `tests/cluster/`'s.

use crate::support::{Daemon, stockade, text};
use std::path::Path;

const SPEC: &str = "[job.hello]\ncommand = [\"true\"]\n";

#[test]
fn cluster_and_drain_on_a_daemon_without_cluster_say_it_is_not_a_member() {
    if !Path::new("/sys/fs/cgroup").exists() {
        eprintln!("skipped: no cgroup filesystem");
        return;
    }
    let daemon = Daemon::start(SPEC);
    for verb in [&["cluster"][..], &["cluster", "--json"], &["drain"], &["drain", "--undo"]] {
        let out = daemon.run(verb);
        assert_eq!(out.status.code(), Some(1), "{verb:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{verb:?} printed {}", text(&out.stdout));
        let err = text(&out.stderr);
        assert!(
            err.starts_with("stockade: this daemon is not a cluster member"),
            "{verb:?}: {err}"
        );
        assert!(err.contains("hint: add [cluster] database = "), "{verb:?}: {err}");
    }
    assert_eq!(daemon.stop(), Some(0));
}

/// The checks of `doctor --cluster --json` whose id starts with `cluster`.
fn cluster_checks(args: &[&str]) -> Vec<serde_json::Value> {
    let out = stockade().args(["doctor", "--cluster", "--json"]).args(args).output().unwrap();
    assert!(matches!(out.status.code(), Some(0) | Some(1)), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let checks = report["checks"].as_array().expect("checks").clone();
    checks
        .into_iter()
        .filter(|c| c["id"].as_str().is_some_and(|id| id.starts_with("cluster")))
        .collect()
}

fn find<'a>(checks: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    checks.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no check {id} in {checks:?}"))
}

#[test]
fn doctor_cluster_judges_the_spec_and_asks_the_running_daemon() {
    if !Path::new("/sys/fs/cgroup").exists() {
        eprintln!("skipped: no cgroup filesystem");
        return;
    }
    let daemon = Daemon::start(SPEC);
    let spec = daemon.spec.to_str().unwrap().to_owned();
    let alone = cluster_checks(&["-f", &spec]);
    assert_eq!(alone.len(), 1, "{alone:?}");
    assert_eq!(find(&alone, "cluster")["status"], "warn");

    let dir = tempfile::tempdir().unwrap();
    let member = dir.path().join("member.toml");
    std::fs::write(
        &member,
        "[cluster]\ndatabase = \"postgres://stockade:secret@db.invalid/queue\"\nhost = \"h7\"\n\n[job.hello]\ncommand = [\"true\"]\n",
    )
    .unwrap();
    let member = member.to_str().unwrap().to_owned();
    let socket = daemon.socket.to_str().unwrap().to_owned();
    let asked = cluster_checks(&["-f", &member, "--socket", &socket]);
    assert_eq!(find(&asked, "cluster")["value"], "postgres://stockade:***@db.invalid/queue");
    assert_eq!(find(&asked, "cluster_leases")["status"], "ok");
    assert_eq!(find(&asked, "cluster_host")["value"], "h7");
    let database = find(&asked, "cluster_database");
    assert_eq!(database["status"], "warn", "{database}");
    assert!(
        database["message"].as_str().unwrap().contains("this daemon is not a cluster member"),
        "{database}"
    );
    assert_eq!(daemon.stop(), Some(0));

    let gone = cluster_checks(&["-f", &member, "--socket", &socket]);
    let database = find(&gone, "cluster_database");
    assert_eq!(database["status"], "unknown", "{database}");
    assert!(database["message"].as_str().unwrap().contains("needs a running member"), "{database}");
    assert!(!text(&serde_json::to_vec(&gone).unwrap()).contains("secret"), "{gone:?}");
}
