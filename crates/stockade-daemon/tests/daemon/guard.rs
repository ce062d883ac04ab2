//! Who may command the daemon, through the real daemon on real sockets:
//! tokens on TCP (loopback included), Host and Origin (DNS rebinding, CSRF),
//! JSON-only mutations, `submit_env`, and the Unix socket's mode and group.

use serde_json::{Value, json};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use stockade_testkit::TestDaemon;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

macro_rules! need_boxes {
    () => {
        if !stockade_testkit::can_make_boxes() {
            eprintln!("skipped: needs root and a writable cgroup tree");
            return;
        }
    };
}

const TOKEN: &str = "correct-horse-battery-staple";

const SPEC: &str = r#"
[job.task]
command = ["sh", "-c", "echo $TASK_ID"]
submit_env = ["TASK_ID"]
"#;

/// A daemon on its socket and on a loopback TCP port with a token.
async fn tcp_daemon(name: &str) -> (TestDaemon, String) {
    let keys = format!(
        "listen = [\"unix:state/stockade.sock\", \"tcp:127.0.0.1:0\"]\ntoken = \"{TOKEN}\""
    );
    let d = TestDaemon::start_with(name, &keys, SPEC, tempfile::tempdir().unwrap()).await;
    let addr = d
        .running
        .listening
        .iter()
        .find_map(|a| a.strip_prefix("tcp:"))
        .expect("a tcp listener")
        .to_owned();
    (d, addr)
}

/// One raw HTTP/1.1 request over TCP, headers exactly as given: (status, body).
async fn raw(addr: &str, head: &str, body: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request =
        format!("{head}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn assert_refusal(reply: &(u16, Value), status: u16, code: &str) {
    assert_eq!(reply.0, status, "{:?}", reply.1);
    assert_eq!(reply.1["code"], code, "{:?}", reply.1);
    assert!(reply.1["message"].as_str().is_some_and(|m| !m.is_empty()), "{:?}", reply.1);
    assert!(reply.1["hint"].as_str().is_some_and(|h| !h.is_empty()), "{:?}", reply.1);
}

#[tokio::test]
async fn tcp_needs_the_right_token_and_a_local_host_and_origin() {
    need_boxes!();
    let (d, addr) = tcp_daemon("guard-tcp").await;
    let host = format!("host: {addr}");
    let auth = format!("authorization: Bearer {TOKEN}");

    let ok = raw(&addr, &format!("GET /api/status HTTP/1.1\r\n{host}\r\n{auth}"), "").await;
    assert_eq!(ok.0, 200, "{:?}", ok.1);
    let no_token = raw(&addr, &format!("GET /api/status HTTP/1.1\r\n{host}"), "").await;
    assert_refusal(&no_token, 401, "unauthorized");
    let wrong = raw(
        &addr,
        &format!("GET /api/status HTTP/1.1\r\n{host}\r\nauthorization: Bearer nope"),
        "",
    )
    .await;
    assert_refusal(&wrong, 401, "unauthorized");
    assert_eq!(wrong.1["message"], "the bearer token is wrong");

    // DNS rebinding: a page at evil.example resolved to 127.0.0.1 sends its own name.
    let port = addr.rsplit(':').next().unwrap();
    let rebound =
        raw(&addr, &format!("GET /api/status HTTP/1.1\r\nhost: evil.example:{port}\r\n{auth}"), "")
            .await;
    assert_refusal(&rebound, 403, "forbidden_host");
    let localhost =
        raw(&addr, &format!("GET /api/status HTTP/1.1\r\nhost: localhost:{port}\r\n{auth}"), "")
            .await;
    assert_eq!(localhost.0, 200, "{:?}", localhost.1);

    // CSRF: a foreign page posting with the victim's browser.
    let body = r#"{"template":"task"}"#;
    let csrf = raw(
        &addr,
        &format!(
            "POST /api/jobs HTTP/1.1\r\n{host}\r\n{auth}\r\norigin: http://evil.example\r\ncontent-type: application/json"
        ),
        body,
    )
    .await;
    assert_refusal(&csrf, 403, "forbidden_origin");
    let jobs = d.api.get("/api/jobs?state=queued,running,succeeded,failed").await;
    assert_eq!(jobs.json["items"], json!([]), "nothing was queued by a refused request");
    d.stop().await.unwrap();
}

#[tokio::test]
async fn a_form_post_is_415_on_every_listener() {
    need_boxes!();
    let (d, addr) = tcp_daemon("guard-form").await;
    let head = format!(
        "POST /api/jobs HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/x-www-form-urlencoded"
    );
    let form = raw(&addr, &head, r#"{"template":"task"}"#).await;
    assert_refusal(&form, 415, "unsupported_media_type");
    assert_eq!(
        form.1["hint"],
        "send Content-Type: application/json (curl: -H 'content-type: application/json')"
    );
    let reply = d
        .api
        .call(
            hyper::Method::POST,
            "/api/jobs",
            Some(br#"{"template":"task"}"#.to_vec()),
            &[("content-type", "text/plain")],
        )
        .await;
    assert_eq!(reply.status, 415, "the Unix socket too: {:?}", reply.json);
    let json = d.api.post("/api/jobs", &json!({"template": "task"})).await;
    assert_eq!(json.status, 201, "{:?}", json.json);
    d.stop().await.unwrap();
}

#[tokio::test]
async fn a_submission_sets_only_submit_env_keys_and_never_the_command() {
    need_boxes!();
    let d = TestDaemon::start("guard-submit-env", SPEC).await;
    for env in [json!({"PATH": "/tmp/evil"}), json!({"TASK_ID": "1", "LD_PRELOAD": "/tmp/x.so"})] {
        let reply = d.api.post("/api/jobs", &json!({"template": "task", "env": env})).await;
        assert_eq!(reply.status, 400, "{:?}", reply.json);
        assert_eq!(reply.json["code"], "env_not_allowed");
        let message = reply.json["message"].as_str().unwrap();
        assert!(message.contains("allowed: TASK_ID"), "{message}");
        assert!(message.contains("PATH") || message.contains("LD_PRELOAD"), "{message}");
    }
    let batch = json!([
        {"template": "task", "env": {"TASK_ID": "ok"}},
        {"template": "task", "env": {"HOME": "/root"}},
    ]);
    let reply = d.api.post("/api/jobs", &batch).await;
    assert_eq!(reply.status, 400, "{:?}", reply.json);
    let command = d.api.post("/api/jobs", &json!({"template": "task", "command": ["sh"]})).await;
    assert_eq!(command.status, 422, "{:?}", command.json);
    assert!(command.json["message"].as_str().unwrap().contains("unknown field `command`"));
    let all = d.api.get("/api/jobs?state=queued,running,succeeded,failed,rejected").await;
    assert_eq!(
        all.json["items"],
        json!([]),
        "no refused submission, nor any of its batch, was queued"
    );

    let ok = d.api.post("/api/jobs", &json!({"template": "task", "env": {"TASK_ID": "7"}})).await;
    assert_eq!(ok.status, 201, "{:?}", ok.json);
    d.stop().await.unwrap();
}

#[tokio::test]
async fn tcp_without_a_token_refuses_to_start_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stockade.toml");
    let text = "[daemon]\nstate_dir = \"state\"\nlisten = [\"tcp:127.0.0.1:0\"]\ntoken = \"t\"\n\
                [service.s]\ncommand = [\"sleep\", \"60\"]\n";
    let mut spec = stockade_spec::Spec::parse(text, &path, &|_| None).unwrap();
    // The spec reader refuses this; a caller building a Config by hand must be refused too.
    spec.daemon.token = None;
    let err =
        stockade_daemon::run(stockade_daemon::Config::new(spec), std::future::pending(), None)
            .await
            .unwrap_err();
    let typed = err.downcast_ref::<stockade_daemon::ListenError>().expect("a typed ListenError");
    assert!(matches!(typed, stockade_daemon::ListenError::TokenRequired { .. }));
    assert!(err.to_string().contains("STOCKADE_TOKEN"), "{err}");
    assert!(!dir.path().join("state").exists(), "nothing was started or created");
}

#[tokio::test]
async fn the_socket_is_0600_or_0660_with_its_group() {
    need_boxes!();
    let d = TestDaemon::start("guard-socket", SPEC).await;
    let meta = std::fs::metadata(d.socket()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    d.stop().await.unwrap();

    let group = "daemon";
    let gid = group_gid(group).expect("the Debian `daemon` group");
    let keys = format!("listen = [\"unix:pub/stockade.sock\"]\nsocket_group = \"{group}\"");
    let d = TestDaemon::start_with("guard-group", &keys, SPEC, tempfile::tempdir().unwrap()).await;
    let socket = d.dir.path().join("pub/stockade.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid);
    assert_eq!(d.api.get("/health/live").await.status, 200);
    d.stop().await.unwrap();
}

fn group_gid(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string(Path::new("/etc/group")).ok()?;
    groups.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name)).then(|| f.get(2)?.parse().ok()).flatten()
    })
}
