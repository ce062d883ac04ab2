//! `stockade reload` and SIGHUP against a real daemon with real boxes: a
//! memory limit changes in the live cgroup (same pid), a changed command
//! restarts only its service (new pid), a removed service stops, an added
//! one starts, an invalid spec (a cycle) changes nothing and names line and
//! column, and SIGHUP does what `reload` does.

use crate::support::wait_until;
use crate::support::{Daemon, signal, text};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MIB: u64 = 1 << 20;

fn spec(db_memory: &str, api_command: &str, third: &str) -> String {
    format!(
        r#"
[service.rldb]
command = ["sleep", "300"]
isolation = "none"
limits = {{ memory = "{db_memory}", pids = 16 }}

[service.rlapi]
command = {api_command}
isolation = "none"
depends_on = {{ rldb = "started" }}
{third}"#
    )
}

const WEB: &str = r#"
[service.rlweb]
command = ["sleep", "300"]
isolation = "none"
depends_on = { rlapi = "started" }
"#;

const CACHE: &str = r#"
[service.rlcache]
command = ["sleep", "300"]
isolation = "none"
depends_on = { rldb = "started" }
"#;

/// Running services and their pids, from `status --json` (by the socket:
/// the spec on disk may be the invalid one).
fn running(daemon: &Daemon) -> BTreeMap<String, u32> {
    let socket = daemon.state_dir().join("stockade.sock");
    let out = daemon.run(&["--socket", socket.to_str().unwrap(), "status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let mut pids = BTreeMap::new();
    for r in status["services"].as_array().into_iter().flatten() {
        if let (Some(name), Some(pid), Some("running")) =
            (r["service"].as_str(), r["pid"].as_u64(), r["state"].as_str())
        {
            pids.insert(name.to_string(), pid as u32);
        }
    }
    pids
}

fn wait_running(daemon: &Daemon, names: &[&str]) -> BTreeMap<String, u32> {
    let mut last = BTreeMap::new();
    wait_until(Duration::from_secs(30), &format!("{names:?} running"), || {
        last = running(daemon);
        let keys: Vec<&str> = last.keys().map(String::as_str).collect();
        if keys == names { Ok(()) } else { Err(format!("running: {last:?}")) }
    });
    last
}

/// The memory cgroup directory of the box holding `pid`.
fn memory_box(pid: u32) -> Option<PathBuf> {
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let rel = cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers.split(',').any(|c| c == "memory").then(|| path.to_string())
    })?;
    Some(Path::new("/sys/fs/cgroup/memory").join(rel.trim_start_matches('/')))
}

fn memory_limit(pid: u32) -> u64 {
    let dir = memory_box(pid).unwrap_or_else(|| panic!("no memory cgroup for pid {pid}"));
    let text = std::fs::read_to_string(dir.join("memory.limit_in_bytes")).unwrap();
    text.trim().parse().unwrap()
}

fn usable() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !Path::new("/sys/fs/cgroup/memory").is_dir() {
        eprintln!("skipped: needs root and the cgroup v1 memory hierarchy (real boxes)");
        return false;
    }
    true
}

#[test]
fn reload_changes_limits_live_restarts_only_what_changed_and_refuses_a_cycle() {
    if !usable() {
        return;
    }
    let daemon = Daemon::start(&spec("64MiB", r#"["sleep", "300"]"#, WEB));
    let before = wait_running(&daemon, &["rlapi", "rldb", "rlweb"]);
    let db = before["rldb"];
    assert_eq!(memory_limit(db), 64 * MIB);

    let status = text(&daemon.run(&["status"]).stdout);
    assert!(status.contains("running as on disk"), "{status}");
    std::fs::write(&daemon.spec, spec("128MiB", r#"["sleep", "301"]"#, CACHE)).unwrap();
    let status = text(&daemon.run(&["status"]).stdout);
    assert!(status.contains("CHANGED ON DISK"), "{status}");
    let json = daemon.run(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["spec_file"]["changed_on_disk"], true, "{json}");

    // --plan prints and changes nothing.
    let planned = daemon.run(&["reload", "--plan"]);
    assert!(planned.status.success(), "{}", text(&planned.stderr));
    let planned = text(&planned.stdout);
    assert!(planned.contains("plan only: nothing changed"), "{planned}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(running(&daemon), before);
    assert_eq!(memory_limit(db), 64 * MIB);

    let out = daemon.run(&["reload"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout).replace(&daemon.spec.display().to_string(), "SPEC");
    insta::assert_snapshot!("reload_plan", printed);

    let after = wait_running(&daemon, &["rlapi", "rlcache", "rldb"]);
    assert_eq!(after["rldb"], db, "rldb kept its process");
    assert_eq!(memory_limit(db), 128 * MIB, "the new limit is in its live cgroup");
    assert_ne!(after["rlapi"], before["rlapi"], "rlapi restarted with its new command");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", after["rlapi"])).unwrap();
    assert_eq!(text(&cmdline), "sleep\u{0}301\u{0}");
    assert!(!Path::new(&format!("/proc/{}", before["rlweb"])).exists(), "rlweb's process is gone");
    let status = text(&daemon.run(&["status"]).stdout);
    assert!(status.contains("running as on disk, 1 reload(s) since start"), "{status}");

    // A cycle: refused with line and column, nothing changes.
    let cycle = spec("32MiB", r#"["sleep", "302"]"#, CACHE).replace(
        "isolation = \"none\"\nlimits",
        "isolation = \"none\"\ndepends_on = { rlcache = \"started\" }\nlimits",
    );
    std::fs::write(&daemon.spec, &cycle).unwrap();
    let refused = daemon.run(&["reload"]);
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(err.contains("reload refused") && err.contains("cycle"), "{err}");
    let at = format!("{}:", daemon.spec.display());
    let place = err.split(&at).nth(1).unwrap_or_default();
    let digits = |t: &str| t.chars().take_while(char::is_ascii_digit).collect::<String>();
    let line = digits(place);
    let column = place.strip_prefix(&format!("{line}:")).map(digits).unwrap_or_default();
    assert!(!line.is_empty() && !column.is_empty(), "line:column after the path: {err}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(running(&daemon), after);
    assert_eq!(memory_limit(db), 128 * MIB);

    // SIGHUP does what `reload` does.
    std::fs::write(&daemon.spec, spec("96MiB", r#"["sleep", "301"]"#, CACHE)).unwrap();
    signal(daemon.pid(), libc::SIGHUP);
    wait_until(Duration::from_secs(20), "the SIGHUP reload", || match memory_limit(db) {
        limit if limit == 96 * MIB => Ok(()),
        limit => Err(format!("memory.limit_in_bytes = {limit}")),
    });
    assert_eq!(running(&daemon), after, "a limit change restarts nothing");
    assert!(daemon.log_text().contains("SIGHUP: reloaded"), "{}", daemon.log_text());
    let events = text(&daemon.run(&["events", "--type", "spec_reloaded", "--json"]).stdout);
    assert_eq!(events.matches("\"spec_reloaded\"").count(), 2, "{events}");
    assert_eq!(daemon.stop(), Some(0));
}
