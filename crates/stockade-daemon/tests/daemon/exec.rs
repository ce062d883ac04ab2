//! `POST /api/exec` end to end: the real daemon, real boxes, the upgraded
//! connection spoken frame by frame.

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use stockade_proto::{ExecExit, ExitCause, Frame, FrameDecoder, TermSize};
use stockade_testkit::{TestDaemon, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

macro_rules! need_boxes {
    () => {
        if !stockade_testkit::can_make_boxes() {
            eprintln!("skipped: needs root and a writable cgroup tree");
            return;
        }
    };
}

const SPEC: &str = r#"
[service.legacy]
command = ["sleep", "300"]
isolation = "none"
env = { GREETING = "hi" }

[service.walled]
command = ["sleep", "300"]
env = { GREETING = "walled" }

[service.down]
command = ["true"]
restart = "never"
"#;

/// What one exec session produced.
#[derive(Debug, Default)]
struct Session {
    stdout: String,
    stderr: String,
    exit: Option<ExecExit>,
}

/// The upgraded connection of an exec session.
type Stream = hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>;

/// Open an exec session on `socket`: the 101, then the frames. Returns the
/// HTTP status and, for a 101, the live connection; else the body.
async fn open(socket: &Path, request: &Value) -> (u16, Option<Stream>, String) {
    let api = stockade_testkit::Api::new(socket.to_path_buf());
    match api.upgrade("/api/exec", "stockade-exec", request).await {
        (status, Ok(stream)) => (status.as_u16(), Some(stream), String::new()),
        (status, Err(body)) => (status.as_u16(), None, String::from_utf8_lossy(&body).into_owned()),
    }
}

/// Send `frames`, then read until the exit frame.
async fn session(socket: &Path, request: Value, frames: &[Frame]) -> Session {
    let (status, conn, text) = open(socket, &request).await;
    assert_eq!(status, 101, "{text}");
    let mut stream = conn.unwrap();
    for frame in frames {
        // A command that exits at once may have ended the session already:
        // its frames (the exit among them) are still there to read.
        if let Err(err) = stream.write_all(&frame.encode()).await {
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
            break;
        }
    }
    let mut decoder = FrameDecoder::default();
    let mut out = Session::default();
    let mut buf = [0u8; 4096];
    loop {
        while let Some(frame) = decoder.next_frame().unwrap() {
            match frame {
                Frame::Stdout(b) => out.stdout.push_str(&String::from_utf8_lossy(&b)),
                Frame::Stderr(b) => out.stderr.push_str(&String::from_utf8_lossy(&b)),
                Frame::Exit(exit) => {
                    out.exit = Some(exit);
                    return out;
                }
                other => panic!("the daemon sent a client frame: {other:?}"),
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("the session ended in time")
            .unwrap();
        assert!(n > 0, "closed without an exit frame: {out:?}");
        decoder.push(&buf[..n]);
    }
}

async fn running(d: &TestDaemon, service: &str) -> u32 {
    wait_until("the service runs", Duration::from_secs(10), || async {
        let status = d.api.get("/api/status").await.json;
        let found = status["services"].as_array()?.iter().find(|r| r["service"] == service)?;
        found["pid"].as_u64().map(|p| p as u32)
    })
    .await
}

fn exited(code: i32) -> Option<ExecExit> {
    Some(ExecExit { cause: ExitCause::Exited { code } })
}

#[tokio::test]
async fn exec_streams_stdio_inside_the_boxes_cgroups_and_relays_the_status() {
    need_boxes!();
    let d = TestDaemon::start("exec-stdio", SPEC).await;
    running(&d, "legacy").await;
    let script = "echo out; echo err >&2; echo $GREETING; cat /proc/self/cgroup; exit 3";
    let run = session(
        &d.socket(),
        json!({"service": "legacy", "argv": ["sh", "-c", script]}),
        &[Frame::CloseStdin],
    )
    .await;
    assert_eq!(run.exit, exited(3), "{run:?}");
    assert!(run.stdout.starts_with("out\nhi\n"), "{run:?}");
    assert_eq!(run.stderr, "err\n");
    assert!(run.stdout.contains(&d.parent), "the command is in the box's cgroups: {}", run.stdout);

    let cat = session(
        &d.socket(),
        json!({"service": "legacy", "argv": ["cat"]}),
        &[Frame::Stdin(b"hello ".to_vec()), Frame::Stdin(b"box".to_vec()), Frame::CloseStdin],
    )
    .await;
    assert_eq!((cat.stdout.as_str(), cat.exit), ("hello box", exited(0)));

    let killed = session(
        &d.socket(),
        json!({"service": "legacy", "argv": ["sh", "-c", "kill -TERM $$"]}),
        &[Frame::CloseStdin],
    )
    .await;
    assert_eq!(killed.exit.unwrap().status(), 128 + 15);

    let missing = session(
        &d.socket(),
        json!({"service": "legacy", "argv": ["no-such-program-stockade"]}),
        &[],
    )
    .await;
    let exit = missing.exit.unwrap();
    assert!(matches!(exit.cause, ExitCause::SpawnFailed { errno: Some(2), .. }), "{exit:?}");
    assert_eq!(exit.status(), 127);
    d.stop().await.unwrap();
}

#[tokio::test]
async fn a_tty_exec_gets_a_terminal_of_the_asked_size_and_hears_resizes() {
    need_boxes!();
    let d = TestDaemon::start("exec-tty", SPEC).await;
    running(&d, "legacy").await;
    let size = json!({"rows": 40, "cols": 100});
    let run = session(
        &d.socket(),
        json!({"service": "legacy", "argv": ["sh", "-c", "tty; stty size"], "tty": true, "size": size}),
        &[],
    )
    .await;
    assert_eq!(run.exit, exited(0), "{run:?}");
    assert!(run.stdout.contains("/dev/pts/"), "{run:?}");
    assert!(run.stdout.contains("40 100"), "{run:?}");
    assert_eq!(run.stderr, "", "a pty merges stderr into stdout");
    // The command waits for a line; the resize comes before it.
    let resized = session(
        &d.socket(),
        json!({"service": "legacy", "argv": ["sh", "-c", "read x; stty size"], "tty": true, "size": size}),
        &[Frame::Resize(TermSize { rows: 50, cols: 120 }), Frame::Stdin(b"go\n".to_vec())],
    )
    .await;
    assert_eq!(resized.exit, exited(0), "{resized:?}");
    assert!(resized.stdout.contains("50 120"), "{resized:?}");
    d.stop().await.unwrap();
}

#[tokio::test]
async fn a_walled_units_exec_gets_the_clean_environment_an_unwalled_one_the_daemons() {
    need_boxes!();
    // Cargo sets CARGO_PKG_NAME for the test process, which is the daemon.
    assert!(std::env::var("CARGO_PKG_NAME").is_ok());
    let d = TestDaemon::start("exec-env", SPEC).await;
    running(&d, "walled").await;
    running(&d, "legacy").await;
    let walled = session(&d.socket(), json!({"service": "walled", "argv": ["env"]}), &[]).await;
    assert_eq!(walled.exit, exited(0), "{walled:?}");
    let vars: Vec<&str> = walled.stdout.lines().collect();
    assert!(vars.contains(&"GREETING=walled"), "{vars:?}");
    assert!(vars.contains(&"HOME=/workspace"), "{vars:?}");
    assert!(vars.contains(&"STOCKADE_SERVICE=walled"), "{vars:?}");
    assert!(!vars.iter().any(|v| v.starts_with("CARGO_")), "the daemon's env leaked: {vars:?}");
    let legacy = session(&d.socket(), json!({"service": "legacy", "argv": ["env"]}), &[]).await;
    assert!(legacy.stdout.contains("CARGO_PKG_NAME="), "isolation = \"none\" keeps it");
    d.stop().await.unwrap();
}

#[tokio::test]
async fn an_exec_dies_with_its_box() {
    need_boxes!();
    let d = TestDaemon::start("exec-dies", SPEC).await;
    running(&d, "legacy").await;
    let socket = d.socket();
    let exec = tokio::spawn(async move {
        session(&socket, json!({"service": "legacy", "argv": ["sleep", "1000"]}), &[]).await
    });
    // Once the sleep is in the box, stop the service: the box is killed whole.
    let procs = d.parent_dir("pids");
    wait_until("the exec joins the box", Duration::from_secs(10), || async {
        let count: usize = walk(&procs)
            .iter()
            .filter(|p| p.to_string_lossy().contains("/legacy"))
            .map(|p| std::fs::read_to_string(p).unwrap_or_default().lines().count())
            .sum();
        (count >= 2).then_some(())
    })
    .await;
    let stop = d.api.post("/api/services/legacy/stop", &json!({})).await;
    assert!(stop.status.is_success(), "{:?}", stop.json);
    let run = exec.await.unwrap();
    let exit = run.exit.unwrap();
    assert!(matches!(exit.cause, ExitCause::Signaled { .. }), "{exit:?}");
    d.stop().await.unwrap();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.file_name().is_some_and(|n| n == "cgroup.procs") {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn exec_targets_that_are_not_running_or_unknown_are_json_errors() {
    need_boxes!();
    let d = TestDaemon::start("exec-errors", SPEC).await;
    let cases = [
        (json!({"service": "nope", "argv": ["true"]}), 404, "unknown_service"),
        (json!({"service": "legacy", "replica": 5, "argv": ["true"]}), 404, "unknown_replica"),
        (json!({"job": 999, "argv": ["true"]}), 404, "unknown_job"),
        (json!({"service": "legacy", "argv": []}), 400, "bad_request"),
        (json!({"service": "legacy", "job": 1, "argv": ["true"]}), 400, "bad_request"),
        (json!({"service": "legacy", "argv": ["true"], "env": {"PATH": "/x"}}), 422, "bad_request"),
    ];
    for (request, status, code) in cases {
        let (got, conn, body) = open(&d.socket(), &request).await;
        assert!(conn.is_none());
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{request}: {body}");
    }
    wait_until("`down` has ended", Duration::from_secs(10), || async {
        let status = d.api.get("/api/status").await.json;
        let down = status["services"].as_array()?.iter().find(|r| r["service"] == "down")?.clone();
        (down["pid"].is_null() && down["last_cause"].is_object()).then_some(())
    })
    .await;
    let (got, _, body) = open(&d.socket(), &json!({"service": "down", "argv": ["true"]})).await;
    assert_eq!(got, 409, "{body}");
    let plain = d.api.post("/api/exec", &json!({"service": "legacy", "argv": ["true"]})).await;
    assert_eq!(plain.status, 426, "{:?}", plain.json);
    d.stop().await.unwrap();
}

#[tokio::test]
async fn exec_into_a_running_job_sees_its_submitted_env() {
    need_boxes!();
    let spec = "[job.task]\ncommand = [\"sleep\", \"300\"]\nsubmit_env = [\"TASK\"]\n";
    let d = TestDaemon::start("exec-job", spec).await;
    let submitted =
        d.api.post("/api/jobs", &json!({"template": "task", "env": {"TASK": "forty-two"}})).await;
    assert_eq!(submitted.status, 201, "{:?}", submitted.json);
    let id = submitted.json["id"].as_u64().unwrap();
    wait_until("the job runs", Duration::from_secs(10), || async {
        d.api.get(&format!("/api/jobs/{id}")).await.json["pid"].as_u64()
    })
    .await;
    let run = session(
        &d.socket(),
        json!({"job": id, "argv": ["sh", "-c", "echo $STOCKADE_JOB_ID $TASK $HOME"]}),
        &[],
    )
    .await;
    assert_eq!(run.exit, exited(0), "{run:?}");
    assert_eq!(run.stdout, format!("{id} forty-two /workspace\n"));
    let cancelled = d.api.delete(&format!("/api/jobs/{id}")).await;
    assert!(cancelled.status.is_success(), "{:?}", cancelled.json);
    wait_until("the job has ended", Duration::from_secs(10), || async {
        let job = d.api.get(&format!("/api/jobs/{id}")).await.json;
        (job["state"] == "cancelled" && job["pid"].is_null()).then_some(())
    })
    .await;
    let (status, _, body) = open(&d.socket(), &json!({"job": id, "argv": ["true"]})).await;
    assert!(status == 409 || status == 404, "a finished job has no box: {status} {body}");
    d.stop().await.unwrap();
}
