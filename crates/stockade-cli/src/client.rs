//! The HTTP client of the daemon's API, over its Unix socket: hyper's
//! HTTP/1 connection on a `UnixStream`, one connection per request.

use crate::exit::{FAILED, UNREACHABLE, USAGE, fail};
use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::time::Duration;
use stockade_proto::ApiError;
use tokio::net::UnixStream;

/// Talks to one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    /// How long a request may wait for its answer (`--timeout`).
    timeout: Duration,
}

impl Client {
    /// The daemon of `--socket`, or of the spec's `state_dir`; a request
    /// waits `timeout` for its answer.
    pub fn locate(socket: Option<&Path>, spec: &Path, timeout: Duration) -> anyhow::Result<Client> {
        if let Some(socket) = socket {
            return Ok(Client { socket: socket.to_path_buf(), timeout });
        }
        let parsed = stockade_spec::Spec::from_file(spec).map_err(|e| {
            fail(
                USAGE,
                format!(
                    "cannot find the daemon's socket: the spec {} is not usable",
                    spec.display()
                ),
                Some(format!(
                    "{}\n  pass --socket PATH, or fix the spec (`stockade check`)",
                    e.render().trim_end()
                )),
            )
        })?;
        let socket = parsed.daemon.socket_path().map(Path::to_path_buf).ok_or_else(|| {
            fail(
                USAGE,
                "the spec listens on no Unix socket",
                Some("pass --socket PATH".to_string()),
            )
        })?;
        Ok(Client { socket, timeout })
    }

    /// `work`, or the `--timeout` error naming what did not answer.
    async fn timed<T>(
        &self,
        what: &str,
        work: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(fail(
                UNREACHABLE,
                format!(
                    "the daemon at {} did not answer {what} within {}",
                    self.socket.display(),
                    match self.timeout.as_millis() as u64 {
                        ms if ms % 1000 == 0 => crate::render::duration_ms(ms),
                        ms => format!("{ms}ms"),
                    }
                ),
                Some("is it stopped (SIGSTOP) or overloaded? check its process and log; --timeout waits longer".to_string()),
            )),
        }
    }

    /// Whether a daemon accepts connections on the socket now, or refuses
    /// this user (`EACCES`): then the verb goes to the daemon and says so
    /// instead of reading the store behind its back.
    pub fn connects(&self) -> bool {
        match std::os::unix::net::UnixStream::connect(&self.socket) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::PermissionDenied,
        }
    }

    /// `GET path`, decoded.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.timed(&format!("GET {path}"), async {
            decode(self.send(Method::GET, path, None).await?).await
        })
        .await
    }

    /// `POST path` with a JSON body, decoded.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let body = serde_json::to_vec(body).context("encoding the request")?;
        self.timed(&format!("POST {path}"), async {
            decode(self.send(Method::POST, path, Some(body)).await?).await
        })
        .await
    }

    /// `DELETE path`, decoded.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.timed(&format!("DELETE {path}"), async {
            decode(self.send(Method::DELETE, path, None).await?).await
        })
        .await
    }

    /// `GET path`, the body left streaming (logs, events).
    pub async fn stream(&self, path: &str) -> anyhow::Result<Incoming> {
        self.timed(&format!("GET {path}"), async {
            let response = self.send(Method::GET, path, None).await?;
            if !response.status().is_success() {
                return Err(api_error(response).await);
            }
            Ok(response.into_body())
        })
        .await
    }

    /// `POST path` asking to upgrade the connection to `protocol`: the raw
    /// connection once the daemon answers 101 (`stockade exec`).
    pub async fn upgrade<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        protocol: &str,
    ) -> anyhow::Result<hyper::upgrade::Upgraded> {
        let body = serde_json::to_vec(body).context("encoding the request")?;
        self.timed(&format!("POST {path}"), async {
            let (mut sender, connection) = self.handshake().await?;
            tokio::spawn(async move {
                let _ = connection.with_upgrades().await;
            });
            let request = Request::builder()
                .method(Method::POST)
                .uri(path)
                .header("host", "stockade")
                .header("content-type", "application/json")
                .header("connection", "upgrade")
                .header("upgrade", protocol)
                .body(Full::new(Bytes::from(body)))
                .context("building the request")?;
            let response = sender.send_request(request).await.map_err(|e| {
                fail(UNREACHABLE, format!("the daemon closed the connection: {e}"), None)
            })?;
            if response.status() != StatusCode::SWITCHING_PROTOCOLS {
                return Err(api_error(response).await);
            }
            hyper::upgrade::on(response).await.context("the daemon did not switch protocols")
        })
        .await
    }

    async fn handshake(
        &self,
    ) -> anyhow::Result<(
        hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        hyper::client::conn::http1::Connection<TokioIo<UnixStream>, Full<Bytes>>,
    )> {
        let stream = UnixStream::connect(&self.socket).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                return permission_denied(&self.socket);
            }
            fail(
                UNREACHABLE,
                format!("the daemon is not reachable at {}: {e}", self.socket.display()),
                Some("start it with `stockade up` or `stockade daemon` (same -f spec), or pass --socket".to_string()),
            )
        })?;
        hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake with the daemon failed")
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Response<Incoming>> {
        let (mut sender, connection) = self.handshake().await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = Request::builder().method(method).uri(path).header("host", "stockade");
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .context("building the request")?;
        sender.send_request(request).await.map_err(|e| {
            fail(
                UNREACHABLE,
                format!("the daemon closed the connection: {e}"),
                Some("is it shutting down?".to_string()),
            )
        })
    }
}

/// `EACCES` on the socket: whose it is and what to do, not "not reachable".
fn permission_denied(socket: &Path) -> anyhow::Error {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid(2) cannot fail and has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let hint = "run as root (sudo), or set `socket_group = \"GROUP\"` in [daemon] and add your user to that group (the socket becomes mode 0660)".to_string();
    match std::fs::metadata(socket) {
        Ok(meta) => {
            let owner = match meta.uid() {
                0 => "root".to_string(),
                n => format!("uid {n}"),
            };
            fail(
                UNREACHABLE,
                format!(
                    "the socket at {} is owned by {owner} and mode {:04o}: this user (uid {uid}) may not connect",
                    socket.display(),
                    meta.mode() & 0o7777
                ),
                Some(hint),
            )
        }
        Err(_) => fail(
            UNREACHABLE,
            format!(
                "the socket at {} is not reachable for this user (uid {uid}): permission denied on it or a directory above it",
                socket.display()
            ),
            Some(hint),
        ),
    }
}

async fn decode<T: DeserializeOwned>(response: Response<Incoming>) -> anyhow::Result<T> {
    if !response.status().is_success() {
        return Err(api_error(response).await);
    }
    let bytes =
        response.into_body().collect().await.context("reading the daemon's answer")?.to_bytes();
    serde_json::from_slice(&bytes)
        .context("the daemon's answer is not what this CLI expects (version mismatch?)")
}

async fn api_error(response: Response<Incoming>) -> anyhow::Error {
    let status = response.status();
    let bytes = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return fail(
                FAILED,
                format!("the daemon answered {status} and then failed: {e}"),
                None,
            );
        }
    };
    match serde_json::from_slice::<ApiError>(&bytes) {
        Ok(err) => {
            let code = if status == StatusCode::SERVICE_UNAVAILABLE { UNREACHABLE } else { FAILED };
            fail(code, err.message, Some(err.hint))
        }
        Err(_) => fail(
            FAILED,
            format!("the daemon answered {status}: {}", String::from_utf8_lossy(&bytes)),
            None,
        ),
    }
}

/// Read the next chunk of a streaming body (`None` at the end).
pub async fn next_chunk(body: &mut Incoming) -> anyhow::Result<Option<Bytes>> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => {
                return Err(anyhow::Error::new(e).context("the stream from the daemon broke"));
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}
