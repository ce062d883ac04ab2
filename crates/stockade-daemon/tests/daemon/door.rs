//! The door (issue 13, item 1) through the real daemon on real sockets: a
//! flood of idle TCP and Unix connections is bounded while `/health/live`
//! answers and a crashing service is restarted; idle connections are closed
//! after `idle_timeout`; a slowloris is cut by `header_timeout`; unauthenticated
//! TCP peers are rate limited; a deleted socket is re-created.

use serde_json::Value;
use std::time::{Duration, Instant};
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

const TOKEN: &str = "door-test-token";

const CRASHER: &str = r#"
[service.crasher]
command = ["sh", "-c", "sleep 0.3; exit 3"]
restart = "always"
backoff = { initial = "50ms", max = "200ms", jitter = 0.0 }
start_limit = { burst = 1000, interval = "60s" }
"#;

async fn door_daemon(name: &str, extra: &str) -> (TestDaemon, String) {
    let keys = format!(
        "listen = [\"unix:state/stockade.sock\", \"tcp:127.0.0.1:0\"]\ntoken = \"{TOKEN}\"\n{extra}"
    );
    let d = TestDaemon::start_with(name, &keys, CRASHER, tempfile::tempdir().unwrap()).await;
    let addr = d
        .running
        .listening
        .iter()
        .find_map(|a| a.strip_prefix("tcp:"))
        .expect("a tcp listener")
        .to_owned();
    (d, addr)
}

async fn restarts(d: &TestDaemon) -> u64 {
    let all = d.api.get("/api/services").await.json;
    all["items"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["service"] == "crasher"))
        .and_then(|r| r["restarts"].as_u64())
        .unwrap_or(0)
}

/// Whether the server has closed `stream` (EOF or reset), waiting up to `limit`.
async fn closed_within<S: AsyncReadExt + Unpin>(stream: &mut S, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 503 before the close: keep reading to the EOF.
            Ok(Ok(_)) => continue,
        }
    }
}

/// The worst of `n` `/health/live` round trips over the socket, each on a
/// fresh connection.
async fn worst_live(d: &TestDaemon, n: usize) -> Duration {
    let mut worst = Duration::ZERO;
    for _ in 0..n {
        let t = Instant::now();
        let reply = tokio::time::timeout(Duration::from_secs(5), d.api.get("/health/live"))
            .await
            .expect("/health/live answers within 5 s during the flood");
        assert_eq!(reply.status, 200, "{:?}", reply.json);
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_flood_is_held_at_the_door_while_health_answers_and_services_restart() {
    need_boxes!();
    let (d, addr) = door_daemon(
        "door-flood",
        "max_connections = 256\nmax_connections_per_peer = 128\nidle_timeout = \"4s\"",
    )
    .await;
    let before = worst_live(&d, 10).await;
    let restarts_before = restarts(&d).await;
    // Thousands of idle clients on both listeners, all from one uid and one IP.
    let flood: usize =
        std::env::var("STOCKADE_DOOR_FLOOD").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let started = Instant::now();
    let mut tcp = Vec::new();
    let mut unix = Vec::new();
    for _ in 0..flood {
        if let Ok(s) = tokio::net::TcpStream::connect(&addr).await {
            tcp.push(s);
        }
        if let Ok(s) = tokio::net::UnixStream::connect(d.socket()).await {
            unix.push(s);
        }
    }
    let opened = started.elapsed();
    // Past the eviction age, newcomers displace the idle flood.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let during = worst_live(&d, 20).await;
    wait_until("crasher restarted during the flood", Duration::from_secs(20), || {
        let d = &d;
        async move { (restarts(d).await >= restarts_before + 3).then_some(()) }
    })
    .await;
    // Every flood connection is closed by the daemon: refused (503), displaced,
    // or idle past idle_timeout.
    tokio::time::sleep_until((started + opened + Duration::from_secs(4 + 3)).into()).await;
    let mut open_after = 0;
    for s in tcp.iter_mut() {
        if !closed_within(s, Duration::from_millis(20)).await {
            open_after += 1;
        }
    }
    for s in unix.iter_mut() {
        if !closed_within(s, Duration::from_millis(20)).await {
            open_after += 1;
        }
    }
    let closed_in = started.elapsed();
    eprintln!(
        "flood: {} tcp + {} unix idle connections opened in {opened:?}; /health/live worst {before:?} before, {during:?} during; all closed after {closed_in:?} ({open_after} still open)",
        tcp.len(),
        unix.len()
    );
    assert_eq!(open_after, 0, "idle connections outlived idle_timeout");
    worst_live(&d, 3).await;
    drop((tcp, unix));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_is_cut_by_the_header_timeout_and_an_idle_client_by_the_idle_timeout() {
    need_boxes!();
    let (d, addr) =
        door_daemon("door-slow", "header_timeout = \"1s\"\nidle_timeout = \"2s\"").await;
    // Headers dribbled one byte every 200 ms: never complete within 1 s.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let t = Instant::now();
    let head = format!(
        "GET /health/live HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\nx-pad: "
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut cut = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(b"a").await.is_err() {
            cut = Some(t.elapsed());
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await
        {
            let _ = n;
            cut = Some(t.elapsed());
            break;
        }
    }
    let cut = cut.expect("the slowloris was not cut within 10 s");
    eprintln!("slowloris cut after {cut:?} (header_timeout 1s)");

    // A keep-alive client that answers once, then stays silent.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let t = Instant::now();
    let request = format!(
        "GET /health/live HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\r\n"
    );
    idle.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut idle, Duration::from_secs(8)).await, "idle connection kept open");
    eprintln!("idle keep-alive connection closed after {:?} (idle_timeout 2s)", t.elapsed());
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caps_refuse_with_a_json_503_and_refused_tcp_requests_are_rate_limited() {
    need_boxes!();
    let (d, addr) = door_daemon("door-caps", "max_connections_per_peer = 4").await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::UnixStream::connect(d.socket()).await.unwrap());
    }
    // The fifth from the same uid, while the four are younger than the
    // eviction age: a 503 with the API's error body, then closed.
    let mut fifth = tokio::net::UnixStream::connect(d.socket()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), fifth.read_to_end(&mut answer))
        .await
        .expect("closed")
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["code"], "too_many_connections", "{body}");
    assert!(body["message"].as_str().unwrap().contains("max_connections_per_peer"), "{body}");
    // Once they have idled past the eviction age, a request gets through.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(d.api.get("/health/live").await.status, 200);
    drop(held);

    // Refused TCP requests spend the address's bucket; then 429.
    let mut statuses = Vec::new();
    for _ in 0..80 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let req = format!("GET /api/status HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out).to_string();
        statuses.push(text.split(' ').nth(1).unwrap_or("").to_owned());
    }
    assert_eq!(statuses[0], "401", "{statuses:?}");
    assert!(statuses.iter().any(|s| s == "429"), "{statuses:?}");
    // The right token still passes while the bucket is empty.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "GET /health/live HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\nconnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_socket_is_re_created_and_answers() {
    need_boxes!();
    let (d, _) = door_daemon("door-socket", "").await;
    std::fs::remove_file(d.socket()).unwrap();
    let t = Instant::now();
    wait_until("the socket re-created", Duration::from_secs(5), || async {
        d.socket().exists().then_some(())
    })
    .await;
    eprintln!("socket re-created after {:?}", t.elapsed());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(d.api.get("/health/live").await.status, 200);
    d.stop().await.unwrap();
}
