//! The hostile checks that need the daemon: from inside a walled job of the
//! real daemon, its agent tries to read the daemon's environment and token,
//! see its state dir (store, socket, other jobs' workspaces), and reach the
//! loopback TCP listener without the token. Each attempt prints what it got;
//! the test asserts the agent's output *and* the host side (the files are
//! there, the secret is on disk), so a missing wall fails the test.

use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use stockade_testkit::{TestDaemon, wait_until};

const TOKEN: &str = "hostile-token-0123456789abcdef";
const SECRET: &str = "victim-secret-4242";

const SPEC: &str = r#"
[job.victim]
command = ["sh", "-c", "echo $SECRET_VALUE > /workspace/secret && echo written && sleep 30"]
submit_env = ["SECRET_VALUE"]

[job.probe]
command = ["bash", "-c", """
echo environ=$(cat /proc/$DAEMON_PID/environ >/dev/null 2>&1 && echo visible || echo hidden)
echo daemon_pid=$(test -e /proc/$DAEMON_PID && echo visible || echo hidden)
echo state=[$(ls -A $STATE 2>&1)]
echo db=$(test -e $STATE/stockade.db && echo visible || echo hidden)
echo sock=$(test -e $STATE/stockade.sock && echo visible || echo hidden)
echo token=[$(cat $STATE/token 2>/dev/null)]
echo secret=[$(cat $STATE/workspaces/*/secret 2>/dev/null)]
echo others=[$(ls $STATE/workspaces 2>&1)]
exec 3<>/dev/tcp/127.0.0.1/$PORT && printf 'GET /api/status HTTP/1.1\\r\\nhost: 127.0.0.1:%s\\r\\nconnection: close\\r\\n\\r\\n' $PORT >&3 && echo tcp=$(head -1 <&3 | tr -d '\\r')
echo done
"""]
submit_env = ["DAEMON_PID", "STATE", "PORT"]
"#;

async fn job(d: &TestDaemon, id: u64, want: &[&str]) -> serde_json::Value {
    wait_until(&format!("job {id} in {want:?}"), Duration::from_secs(20), || async {
        let job = d.api.get(&format!("/api/jobs/{id}")).await.json;
        want.iter().any(|w| job["state"] == *w).then_some(job)
    })
    .await
}

/// The job's output as text, one line per record.
async fn logs(d: &TestDaemon, id: u64) -> String {
    let page = d.api.get(&format!("/api/jobs/{id}/logs")).await.json;
    let lines = page["lines"].as_array().cloned().unwrap_or_default();
    lines.iter().map(|l| format!("{}\n", l["text"].as_str().unwrap_or_default())).collect()
}

#[tokio::test]
async fn a_walled_agent_cannot_see_the_daemon_its_state_its_token_or_another_job() {
    if !stockade_testkit::can_make_boxes() {
        eprintln!("skipped: needs root and a writable cgroup tree");
        return;
    }
    // Not under /tmp (the box has its own): the state dir must be hidden by
    // the daemon's cover, not merely absent. The tempdir is searchable so
    // that only the cover, not a 0700 ancestor, keeps the agent out.
    let dir = tempfile::Builder::new().prefix("stockade-hostile-").tempdir_in("/var/tmp").unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let token_file = state.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let keys = "listen = [\"unix:state/stockade.sock\", \"tcp:127.0.0.1:0\"]\ntoken_file = \"state/token\"";
    let d = TestDaemon::start_with("hostile-daemon", keys, SPEC, dir).await;
    let port = d.running.listening.iter().find_map(|a| a.strip_prefix("tcp:127.0.0.1:")).unwrap();
    let state = d.state_dir();

    // The victim writes its secret into its workspace and stays running.
    let victim = d
        .api
        .post("/api/jobs", &json!({"template": "victim", "env": {"SECRET_VALUE": SECRET}}))
        .await;
    assert_eq!(victim.status, 201, "{:?}", victim.json);
    let victim = victim.json["id"].as_u64().unwrap();
    job(&d, victim, &["running"]).await;
    wait_until("the victim's secret", Duration::from_secs(10), || async {
        logs(&d, victim).await.contains("written").then_some(())
    })
    .await;
    // Host side: the secret is on disk in the state dir, the store and socket exist.
    let on_disk: Vec<_> = std::fs::read_dir(state.join("workspaces"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("secret")).ok())
        .collect();
    assert_eq!(on_disk, [format!("{SECRET}\n")], "the victim's workspace holds the secret");
    assert!(state.join("stockade.db").exists() && state.join("stockade.sock").exists());

    let env = json!({
        "DAEMON_PID": std::process::id().to_string(),
        "STATE": state.display().to_string(),
        "PORT": port,
    });
    let probe = d.api.post("/api/jobs", &json!({"template": "probe", "env": env})).await;
    assert_eq!(probe.status, 201, "{:?}", probe.json);
    let probe = probe.json["id"].as_u64().unwrap();
    let done = job(&d, probe, &["succeeded", "failed"]).await;
    let out = logs(&d, probe).await;
    assert_eq!(done["state"], "succeeded", "{done}\n{out}");
    let line = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
            .to_string()
    };
    assert_eq!(line("environ="), "hidden", "the daemon's environment:\n{out}");
    assert_eq!(
        line("daemon_pid="),
        "hidden",
        "the daemon's pid is outside the box's pid namespace"
    );
    assert_eq!(line("state="), "[]", "the state dir is an empty cover:\n{out}");
    assert_eq!(line("db="), "hidden");
    assert_eq!(line("sock="), "hidden", "the API's Unix socket");
    assert_eq!(line("token="), "[]", "the token file");
    assert_eq!(line("secret="), "[]", "another job's workspace");
    assert!(!out.contains(TOKEN) && !out.contains(SECRET), "{out}");
    assert_eq!(line("tcp="), "HTTP/1.1 401 Unauthorized", "TCP without the token:\n{out}");
    assert_eq!(line("done"), "");

    // A submission cannot pick the agent's loader or search path.
    for env in [json!({"PATH": "/tmp/evil"}), json!({"LD_PRELOAD": "/tmp/x.so"})] {
        let reply = d.api.post("/api/jobs", &json!({"template": "probe", "env": env})).await;
        assert_eq!(
            (reply.status.as_u16(), reply.json["code"].as_str()),
            (400, Some("env_not_allowed"))
        );
    }
    let all = d.api.get("/api/jobs?state=queued,running,succeeded,failed,rejected").await;
    assert_eq!(
        all.json["items"].as_array().unwrap().len(),
        2,
        "the refused submissions were not queued"
    );

    // The host is unharmed: the token file is as written.
    assert_eq!(std::fs::read_to_string(state.join("token")).unwrap(), format!("{TOKEN}\n"));
    let _ = d.api.delete(&format!("/api/jobs/{victim}")).await;
    d.stop().await.unwrap();
}
