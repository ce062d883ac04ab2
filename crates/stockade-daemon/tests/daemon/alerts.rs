//! Alert rules and the leak detector end to end: the real daemon in-process,
//! a real leaking process and a real crash loop in real boxes, the alerts
//! read back from the event stream, `/api/status` and `/metrics` (checked
//! by `promtool` when it is installed).

use crate::monitor::Events;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use stockade_testkit::{TestDaemon, wait_until};

const LIMIT: Duration = Duration::from_secs(60);

fn need_boxes() -> bool {
    let ok = stockade_testkit::can_make_boxes();
    if !ok {
        eprintln!("skipped: needs root and a writable cgroup tree");
    }
    ok
}

fn alert_events(events: &Events, kind: &str, alert: &str) -> Vec<Value> {
    events.matching(|e| e["type"] == kind && e["alert"] == alert)
}

/// The `/metrics` text, after `promtool check metrics` accepted it.
async fn metrics(d: &TestDaemon) -> String {
    let reply = d.api.get("/metrics").await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8(reply.body.to_vec()).expect("utf-8 exposition");
    if let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        // promtool lints names too (e.g. counters without _total); only
        // an unparsable exposition is an error here.
        assert!(!said.contains("error while linting"), "promtool: {said}");
    }
    text
}

/// `stockade_alert_firing{alert=…,unit=…}`'s value, if the series exists.
fn gauge(text: &str, alert: &str, unit: &str) -> Option<f64> {
    let head = format!("stockade_alert_firing{{alert=\"{alert}\",unit=\"{unit}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&head)?.trim().parse().ok())
}

#[tokio::test]
async fn a_leaking_service_raises_a_leak_alert_with_its_rate_and_a_restart_resolves_it() {
    if !need_boxes() {
        return;
    }
    // ~1 MiB every 100 ms, touched, kept: ~36,000 MiB/h into a 256 MiB box.
    let d = TestDaemon::start(
        "alerts-leak",
        r#"
[monitor]
interval = "250ms"
leak_min_span = "3s"

[service.leaky]
command = ["python3", "-c", "import time\nheld = []\nwhile True:\n    held.append(b'x' * (1 << 20))\n    time.sleep(0.1)"]
restart = "always"
backoff = { initial = "100ms", max = "200ms", jitter = 0.0 }
limits = { memory = "256MiB", pids = 16 }
"#,
    )
    .await;
    let events = Events::follow(&d).await;
    let fired = wait_until("the leak alert", LIMIT, || async {
        alert_events(&events, "alert_firing", "memory_leak").into_iter().next()
    })
    .await;
    let message = fired["message"].as_str().unwrap().to_owned();
    eprintln!("leak alert: {}", serde_json::to_string(&fired).unwrap());
    assert_eq!(fired["unit"], "leaky");
    assert!(message.starts_with("memory of `leaky` grows "), "{message}");
    assert!(message.contains("its 256 MiB limit is ~"), "{message}");
    let rate: f64 = message
        .strip_prefix("memory of `leaky` grows ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {message}"));
    // 10 MiB/s is 36,000 MiB/h; allocation, sleeps and sampling make it less.
    assert!((12_000.0..=48_000.0).contains(&rate), "{rate} MiB/h from {message}");

    // While it fires: in status and on /metrics.
    let status = d.api.get("/api/status").await.json;
    let firing = status["alerts"].as_array().cloned().unwrap_or_default();
    if firing.iter().any(|a| a["alert"] == "memory_leak") {
        assert_eq!(firing[0]["unit"], "leaky[0]", "{firing:?}");
    }
    // The box's limit kills it; the restart ends that trend.
    let resolved = wait_until("the leak alert resolved by the restart", LIMIT, || async {
        alert_events(&events, "alert_resolved", "memory_leak").into_iter().next()
    })
    .await;
    eprintln!("leak resolved: {}", serde_json::to_string(&resolved).unwrap());
    assert!(resolved["message"].as_str().unwrap().contains("a new run starts a new trend"));
    let text = metrics(&d).await;
    assert!(gauge(&text, "memory_leak", "leaky[0]").is_some(), "{text}");
    d.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_rule_fires_from_a_crash_loop_and_its_gauge_shows_one() {
    if !need_boxes() {
        return;
    }
    let d = TestDaemon::start(
        "alerts-restarts",
        r#"
[monitor]
interval = "200ms"

[service.crashy]
command = ["sh", "-c", "sleep 0.2; exit 3"]
restart = "always"
backoff = { initial = "50ms", max = "100ms", jitter = 0.0 }
start_limit = { burst = 1000, interval = "60s" }
limits = { pids = 16 }

[alert.flappy]
signal = "restarts"
service = "crashy"
window = "1m"
op = ">"
value = 2

[alert.idle]
signal = "queue_depth"
pool = "default"
op = "=="
value = 0
for = "1h"
"#,
    )
    .await;
    let before = metrics(&d).await;
    assert_eq!(gauge(&before, "flappy", "crashy"), Some(0.0), "a declared rule reports 0");
    assert_eq!(gauge(&before, "idle", "default"), Some(0.0));
    let events = Events::follow(&d).await;
    let fired = wait_until("the flappy rule", LIMIT, || async {
        alert_events(&events, "alert_firing", "flappy").into_iter().next()
    })
    .await;
    eprintln!("rule firing: {}", serde_json::to_string(&fired).unwrap());
    assert_eq!(fired["unit"], "crashy");
    assert_eq!(fired["message"], "restarts{service=crashy} = 3 in the last 1m (> 2)");
    let text = metrics(&d).await;
    assert_eq!(gauge(&text, "flappy", "crashy"), Some(1.0), "{text}");
    assert_eq!(gauge(&text, "idle", "default"), Some(0.0), "`for = 1h` has not passed");
    let status = d.api.get("/api/status").await.json;
    let firing = status["alerts"].as_array().cloned().unwrap_or_default();
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert_eq!(firing[0]["alert"], "flappy");
    assert_eq!(firing[0]["unit"], "crashy");
    // Many more restarts: still one firing event.
    wait_until("more restarts", LIMIT, || async {
        let all = d.api.get("/api/services").await.json["items"].clone();
        (all[0]["restarts"].as_u64()? >= 8).then_some(())
    })
    .await;
    assert_eq!(alert_events(&events, "alert_firing", "flappy").len(), 1);
    d.stop().await.unwrap();
}

/// The rules of `reload_hands_the_monitor_new_rules_and_settings`, before
/// and after: `kept` is the same in both, `gone` only before, `changed`
/// changes its value, `added` only after; the thresholds move so that a
/// warning at 75% of `pids` (3 tasks of 4: the box's init, `sh`, `sleep`;
/// 2 are below the old warning level) falls below the new clear level.
const BEFORE: &str = r#"
[monitor]
interval = "200ms"
warning = 60
critical = 90

[service.three]
command = ["sh", "-c", "sleep 300 & wait"]
limits = { pids = 4 }

[alert.kept]
signal = "queue_depth"
pool = "default"
op = "=="
value = 0

[alert.gone]
signal = "running"
pool = "default"
op = "=="
value = 0

[alert.changed]
signal = "queue_depth"
pool = "default"
op = "<"
value = 1
"#;

fn after() -> String {
    BEFORE
        .replace("warning = 60\ncritical = 90", "warning = 95\ncritical = 99\nhysteresis = 5")
        .replace("signal = \"running\"\npool = \"default\"\nop = \"==\"\nvalue = 0\n", "")
        .replace("[alert.gone]\n", "")
        .replace("op = \"<\"\nvalue = 1", "op = \"<\"\nvalue = 2")
        + "\n[alert.added]\nsignal = \"running\"\npool = \"default\"\nop = \"<\"\nvalue = 5\n"
}

fn firing(status: &Value) -> Vec<(String, u64)> {
    let all = status["alerts"].as_array().cloned().unwrap_or_default();
    all.iter()
        .map(|a| {
            (a["alert"].as_str().unwrap_or_default().to_owned(), a["since"].as_u64().unwrap_or(0))
        })
        .collect()
}

#[tokio::test]
async fn reload_hands_the_monitor_new_rules_and_settings() {
    if !need_boxes() {
        return;
    }
    let d = TestDaemon::start("alerts-reload", BEFORE).await;
    let events = Events::follow(&d).await;
    let before = wait_until("kept, gone and changed firing, three warned about", LIMIT, || async {
        let firing = firing(&d.api.get("/api/status").await.json);
        let warned = events.matching(|e| e["type"] == "alert" && e["level"] == "warning");
        (firing.len() == 3 && !warned.is_empty()).then_some(firing)
    })
    .await;
    let since =
        |list: &[(String, u64)], name: &str| list.iter().find(|(a, _)| a == name).map(|(_, s)| *s);
    let kept_since = since(&before, "kept").unwrap();
    let warning = &events.matching(|e| e["type"] == "alert" && e["level"] == "warning")[0];
    assert_eq!(warning["unit"], "three");
    assert!(warning["message"].as_str().unwrap().starts_with("tasks at 75% "), "{warning}");

    let spec = std::fs::read_to_string(d.spec_path()).unwrap();
    let head = &spec[..spec.find("\n[monitor]").unwrap()];
    std::fs::write(d.spec_path(), format!("{head}\n{}", after())).unwrap();
    let plan = d.api.post("/api/daemon/reload", &serde_json::json!({})).await;
    assert_eq!(plan.status, 200, "{}", plan.json);
    let plan = plan.json;
    eprintln!("plan: {plan}");
    assert_eq!(plan["applied"], true, "{plan}");
    let alerts: Vec<(String, String)> = (plan["alerts"].as_array().unwrap().iter())
        .map(|a| (a["name"].as_str().unwrap().to_owned(), a["action"].as_str().unwrap().to_owned()))
        .collect();
    let pair = |n: &str, a: &str| (n.to_owned(), a.to_owned());
    assert_eq!(alerts, [pair("changed", "update"), pair("added", "add"), pair("gone", "remove")]);
    assert_eq!(plan["alerts"][0]["changes"], serde_json::json!(["value 1 → 2"]));
    let settings = plan["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 1, "{plan}");
    assert_eq!(settings[0], serde_json::json!({ "key": "monitor.thresholds", "live": true }));

    let resolved = |name: &str| alert_events(&events, "alert_resolved", name);
    let gone =
        wait_until("gone resolved", LIMIT, || async { resolved("gone").into_iter().next() }).await;
    assert_eq!(gone["message"], "running{pool=default}: the rule was removed in a reload");
    let changed = wait_until("changed resolved and firing again", LIMIT, || async {
        let again = alert_events(&events, "alert_firing", "changed");
        (again.len() == 2).then(|| again[1].clone())
    })
    .await;
    assert_eq!(changed["message"], "queue_depth{pool=default} = 0 (< 2)");
    assert_eq!(
        resolved("changed")[0]["message"],
        "queue_depth{pool=default}: the rule changed in a reload; it is evaluated afresh"
    );
    let after = wait_until("added firing", LIMIT, || async {
        let firing = firing(&d.api.get("/api/status").await.json);
        firing.iter().any(|(a, _)| a == "added").then_some(firing)
    })
    .await;
    let names: Vec<&str> = after.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(names, ["added", "changed", "kept"]);
    assert_eq!(since(&after, "kept"), Some(kept_since), "kept fires on from before the reload");
    assert_eq!(alert_events(&events, "alert_firing", "kept").len(), 1, "one firing, never again");
    assert!(resolved("kept").is_empty());

    // The new thresholds: 75% is below the new clear level (90%).
    let cleared = wait_until("the warning cleared by the new thresholds", LIMIT, || async {
        events.matching(|e| e["type"] == "alert" && e["level"] == "cleared").into_iter().next()
    })
    .await;
    assert_eq!(
        cleared["message"],
        "tasks back to 75% of the limit of 4 tasks (replica 0, cleared below 90%)"
    );
    let text = metrics(&d).await;
    assert_eq!(gauge(&text, "gone", "default"), None, "a removed rule leaves /metrics");
    assert_eq!(gauge(&text, "added", "default"), Some(1.0));
    let reloaded = events.matching(|e| e["type"] == "spec_reloaded");
    assert_eq!(reloaded.len(), 1);
    let units = reloaded[0]["units"].to_string();
    assert!(units.contains("remove alert gone") && units.contains("add alert added"), "{units}");
    d.stop().await.unwrap();
}
