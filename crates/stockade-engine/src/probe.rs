//! Readiness and liveness probes: `exec`, `http` and `tcp`.
//!
//! Each live run with probes gets one small task per probe that checks every
//! `period` and reports every result to the engine; the engine counts
//! consecutive results against the thresholds. The task is aborted when the
//! run ends. Probes run outside the box: a probe must not eat into the
//! agent's own pids or memory.

use std::time::Duration;
use stockade_proto::RunId;
use stockade_spec::{ProbeCheck, ProbeSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Which probe a result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// Gates `ready` and dependents waiting on `ready`.
    Readiness,
    /// Restarts the service when it keeps failing.
    Liveness,
}

impl ProbeKind {
    /// `readiness` or `liveness`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Readiness => "readiness",
            ProbeKind::Liveness => "liveness",
        }
    }
}

/// One probe result, sent to the engine.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// The run probed.
    pub run: RunId,
    /// Which probe.
    pub kind: ProbeKind,
    /// Passed or not.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// Start probing `run` until the returned task is aborted.
pub fn spawn(
    run: RunId,
    kind: ProbeKind,
    spec: ProbeSpec,
    results: mpsc::UnboundedSender<ProbeResult>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(spec.initial_delay).await;
        let mut tick = tokio::time::interval(spec.period.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (ok, detail) = check(&spec.check, spec.timeout).await;
            if results.send(ProbeResult { run, kind, ok, detail }).is_err() {
                return;
            }
        }
    })
}

/// Run one check with a timeout.
pub async fn check(check: &ProbeCheck, timeout: Duration) -> (bool, String) {
    match tokio::time::timeout(timeout, run_check(check)).await {
        Ok(result) => result,
        Err(_) => (false, format!("timed out after {}ms", timeout.as_millis())),
    }
}

async fn run_check(check: &ProbeCheck) -> (bool, String) {
    match check {
        ProbeCheck::Exec(argv) => exec(argv).await,
        ProbeCheck::Http { host, port, path, .. } => http(host, *port, path).await,
        ProbeCheck::Tcp { host, port } => match TcpStream::connect((host.as_str(), *port)).await {
            Ok(_) => (true, format!("connected to {host}:{port}")),
            Err(e) => (false, format!("tcp {host}:{port}: {e}")),
        },
    }
}

async fn exec(argv: &[String]) -> (bool, String) {
    let Some((program, args)) = argv.split_first() else {
        return (false, "empty probe command".into());
    };
    let status = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await;
    match status {
        Ok(s) if s.success() => (true, "exit 0".into()),
        Ok(s) => (false, format!("{s}")),
        Err(e) => (false, format!("could not run {program}: {e}")),
    }
}

/// The most of a response body an HTTP probe reads before it closes.
const HTTP_DRAIN: usize = 1 << 20;

/// A minimal HTTP/1.0 GET: 2xx and 3xx pass. No client library: the probe
/// needs one request line and one status line. It reads the whole response
/// (up to [`HTTP_DRAIN`]) before closing: closing a socket with unread data
/// makes the kernel send a reset, and the agent sees `ConnectionResetError`
/// on every probe instead of a clean close.
async fn http(host: &str, port: u16, path: &str) -> (bool, String) {
    let mut stream = match TcpStream::connect((host, port)).await {
        Ok(s) => s,
        Err(e) => return (false, format!("http {host}:{port}: {e}")),
    };
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: stockade-probe\r\nConnection: close\r\n\r\n"
    );
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return (false, format!("http {host}:{port}: {e}"));
    }
    let mut response = Vec::with_capacity(512);
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(k) if response.len() < HTTP_DRAIN => response.extend_from_slice(&buf[..k]),
            // Past the cap: keep reading (and dropping) to the server's close.
            Ok(_) => {}
            Err(e) if response.is_empty() => return (false, format!("http {host}:{port}: {e}")),
            // The status line is in; a broken body does not change it.
            Err(_) => break,
        }
    }
    let _ = stream.shutdown().await;
    let head = &response[..response.len().min(256)];
    let line = String::from_utf8_lossy(head);
    let code = line.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(c) if (200..400).contains(&c) => (true, format!("HTTP {c}")),
        Some(c) => (false, format!("HTTP {c}")),
        None => (false, format!("not an HTTP response: {:?}", line.lines().next().unwrap_or(""))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn serve_once(status: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(format!("HTTP/1.0 {status}\r\n\r\n").as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn http_probe_passes_on_2xx_and_fails_on_5xx() {
        let port = serve_once("200 OK").await;
        let ok = check(&http_check(port), Duration::from_secs(5)).await;
        assert_eq!(ok, (true, "HTTP 200".to_string()));
        let port = serve_once("503 Service Unavailable").await;
        let bad = check(&http_check(port), Duration::from_secs(5)).await;
        assert_eq!(bad, (false, "HTTP 503".to_string()));
    }

    /// A server like Python's `http.server`: the status line, then a body
    /// in pieces, then it reads until the client closes. A probe that hung up
    /// after the status line made every later write fail with a reset.
    #[tokio::test]
    async fn http_probe_reads_the_whole_response_and_closes_cleanly() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n").await?;
            for _ in 0..32 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                s.write_all(&[b'x'; 16 << 10]).await?;
            }
            s.shutdown().await?;
            // The client's side: a clean close is EOF, a reset is an error.
            let read = s.read(&mut buf).await?;
            Ok::<usize, std::io::Error>(read)
        });
        let ok = check(&http_check(port), Duration::from_secs(5)).await;
        assert_eq!(ok, (true, "HTTP 200".to_string()));
        let server = server.await.unwrap();
        assert!(matches!(server, Ok(0)), "the server saw {server:?}, not a clean close");
    }

    #[tokio::test]
    async fn tcp_probe_fails_on_a_closed_port() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open =
            check(&ProbeCheck::Tcp { host: "127.0.0.1".into(), port }, Duration::from_secs(5))
                .await;
        assert!(open.0, "{open:?}");
        drop(listener);
        let closed =
            check(&ProbeCheck::Tcp { host: "127.0.0.1".into(), port }, Duration::from_secs(5))
                .await;
        assert!(!closed.0, "{closed:?}");
    }

    #[tokio::test]
    async fn exec_probe_reports_the_exit_status() {
        let pass = check(&ProbeCheck::Exec(vec!["true".into()]), Duration::from_secs(5)).await;
        assert!(pass.0);
        let fail = check(
            &ProbeCheck::Exec(vec!["sh".into(), "-c".into(), "exit 4".into()]),
            Duration::from_secs(5),
        )
        .await;
        assert!(!fail.0);
        assert!(fail.1.contains('4'), "{fail:?}");
        let missing =
            check(&ProbeCheck::Exec(vec!["/nonexistent/probe".into()]), Duration::from_secs(5))
                .await;
        assert!(!missing.0);
        assert!(missing.1.contains("could not run"), "{missing:?}");
    }

    #[tokio::test]
    async fn a_hanging_probe_times_out() {
        let slow =
            check(&ProbeCheck::Exec(vec!["sleep".into(), "5".into()]), Duration::from_millis(100))
                .await;
        assert_eq!(slow, (false, "timed out after 100ms".to_string()));
    }

    fn http_check(port: u16) -> ProbeCheck {
        ProbeCheck::Http {
            url: format!("http://127.0.0.1:{port}/health"),
            host: "127.0.0.1".into(),
            port,
            path: "/health".into(),
        }
    }
}
