//! [`Api`]: raw HTTP over the daemon's Unix socket, for tests that check
//! status codes, headers and bodies exactly — the one HTTP client of the
//! daemon's tests, upgraded connections (`POST /api/exec`) included.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::path::PathBuf;
use tokio::net::UnixStream;

/// A client of one socket.
#[derive(Debug, Clone)]
pub struct Api {
    socket: PathBuf,
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: hyper::HeaderMap,
    /// The body as JSON (`Value::Null` if it is not JSON).
    pub json: Value,
    /// The raw body.
    pub body: Bytes,
}

impl Api {
    /// A client of `socket`.
    pub fn new(socket: PathBuf) -> Api {
        Api { socket }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, &[]).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(
            Method::POST,
            path,
            Some(body.to_string().into_bytes()),
            &[("content-type", "application/json")],
        )
        .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None, &[]).await
    }

    /// Any request, raw body and extra headers included.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let response = self.open(method, path, body, headers).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.expect("read body").to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Reply { status, headers, json, body }
    }

    /// A request asking to upgrade the connection (`upgrade: PROTOCOL`):
    /// the status, and the upgraded stream on a 101 or the body otherwise.
    pub async fn upgrade(
        &self,
        path: &str,
        protocol: &str,
        body: &Value,
    ) -> (StatusCode, Result<TokioIo<hyper::upgrade::Upgraded>, Bytes>) {
        let headers = [
            ("connection", "upgrade"),
            ("upgrade", protocol),
            ("content-type", "application/json"),
        ];
        let body = Some(body.to_string().into_bytes());
        let response = self.open(Method::POST, path, body, &headers).await;
        let status = response.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let body = response.into_body().collect().await.expect("read body").to_bytes();
            return (status, Err(body));
        }
        let upgraded = hyper::upgrade::on(response).await.expect("the upgraded connection");
        (status, Ok(TokioIo::new(upgraded)))
    }

    /// A request whose body is left streaming (SSE, followed logs).
    pub async fn open(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Response<Incoming> {
        let stream =
            UnixStream::connect(&self.socket).await.expect("connect to the daemon's socket");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
        tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        });
        let mut request = Request::builder().method(method).uri(path).header("host", "stockade");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request =
            request.body(Full::new(Bytes::from(body.unwrap_or_default()))).expect("request");
        sender.send_request(request).await.expect("send request")
    }
}
