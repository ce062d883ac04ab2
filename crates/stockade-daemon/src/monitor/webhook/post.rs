//! One delivery attempt: an HTTP/1.1 POST of a JSON body over a fresh TCP
//! connection, with hyper's client connection driven in the same future, so
//! dropping the future (a timeout) closes the socket and leaves no task.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use stockade_spec::WebhookConfig;
use tokio::net::TcpStream;

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostError {
    /// No TCP connection.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed (malformed answer, reset connection).
    #[error("HTTP exchange with {addr} failed: {source}")]
    Http {
        /// `host:port`.
        addr: String,
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// The URL's path cannot go into a request line.
    #[error("cannot build a request for {url}: {source}")]
    Request {
        /// The webhook URL.
        url: String,
        /// Why.
        #[source]
        source: hyper::http::Error,
    },
    /// The receiver closed the connection without an answer.
    #[error("{addr} closed the connection without answering")]
    Closed {
        /// `host:port`.
        addr: String,
    },
    /// No answer within `webhook_timeout`.
    #[error("no answer from {addr} within {after:?}")]
    TimedOut {
        /// `host:port`.
        addr: String,
        /// The timeout.
        after: Duration,
    },
    /// The receiver answered, but not with 2xx.
    #[error("{url} answered {status}")]
    Status {
        /// The webhook URL.
        url: String,
        /// Its answer.
        status: StatusCode,
    },
}

impl PostError {
    /// Whether trying again may help: transport failures, timeouts, 5xx, 408
    /// and 429 may pass; any other 4xx (a wrong path, a bad token) will not.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            PostError::Request { .. } => false,
            PostError::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => true,
        }
    }
}

/// POST `body` to the webhook, within `config.timeout`.
pub(crate) async fn post(config: &WebhookConfig, body: Bytes) -> Result<(), PostError> {
    let addr = format!("{}:{}", config.host, config.port);
    match tokio::time::timeout(config.timeout, exchange(config, &addr, body)).await {
        Ok(result) => result,
        Err(_) => Err(PostError::TimedOut { addr, after: config.timeout }),
    }
}

async fn exchange(config: &WebhookConfig, addr: &str, body: Bytes) -> Result<(), PostError> {
    let host = config.host.trim_start_matches('[').trim_end_matches(']');
    let stream = TcpStream::connect((host, config.port))
        .await
        .map_err(|source| PostError::Connect { addr: addr.to_owned(), source })?;
    let _ = stream.set_nodelay(true);
    let http = |source| PostError::Http { addr: addr.to_owned(), source };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(http)?;
    let mut request = Request::post(config.path.as_str())
        .header(HOST, addr)
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, concat!("stockade/", env!("CARGO_PKG_VERSION")));
    if let Some(token) = &config.token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(body))
        .map_err(|source| PostError::Request { url: config.url.clone(), source })?;
    let mut connection = std::pin::pin!(connection);
    let mut response = std::pin::pin!(sender.send_request(request));
    // The connection future ends as soon as the receiver closes, which may
    // be right after its answer: the answer is then already waiting in
    // `response`, so that is where the outcome is read.
    let response = tokio::select! {
        biased;
        answer = &mut response => answer,
        ended = &mut connection => match ended {
            Ok(()) => response.await,
            Err(source) => Err(source),
        },
    };
    let response = response.map_err(|source| {
        if source.is_incomplete_message() {
            PostError::Closed { addr: addr.to_owned() }
        } else {
            http(source)
        }
    })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(PostError::Status { url: config.url.clone(), status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn config(port: u16, timeout: Duration) -> WebhookConfig {
        WebhookConfig {
            url: format!("http://127.0.0.1:{port}/hook?x=1"),
            host: "127.0.0.1".into(),
            port,
            path: "/hook?x=1".into(),
            token: Some("t0k".into()),
            timeout,
            attempts: 1,
            backoff: Duration::from_millis(10),
            queue: 1,
        }
    }

    /// Accept one connection, read one request whole, answer `reply` (or
    /// nothing, holding the connection), and hand back what was read.
    async fn receiver(reply: Option<&'static str>) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !request_complete(&seen) {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            match reply {
                Some(reply) => socket.write_all(reply.as_bytes()).await.unwrap(),
                None => std::future::pending::<()>().await,
            }
            String::from_utf8_lossy(&seen).into_owned()
        });
        (port, task)
    }

    fn request_complete(seen: &[u8]) -> bool {
        let text = String::from_utf8_lossy(seen);
        let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
        let length = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ")?.parse().ok())
            .unwrap_or(0usize);
        body.len() >= length
    }

    #[tokio::test]
    async fn a_post_carries_the_body_the_path_and_the_token() {
        let (port, seen) = receiver(Some("HTTP/1.1 204 No Content\r\n\r\n")).await;
        let body = Bytes::from_static(br#"{"type":"alert"}"#);
        post(&config(port, Duration::from_secs(10)), body).await.unwrap();
        let request = seen.await.unwrap();
        assert!(request.starts_with("POST /hook?x=1 HTTP/1.1\r\n"), "{request}");
        let lower = request.to_ascii_lowercase();
        assert!(lower.contains("authorization: bearer t0k\r\n"), "{request}");
        assert!(lower.contains("content-type: application/json\r\n"), "{request}");
        assert!(request.ends_with(r#"{"type":"alert"}"#), "{request}");
    }

    #[tokio::test]
    async fn a_500_is_transient_a_404_is_not() {
        let (port, _seen) = receiver(Some("HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n")).await;
        let err = post(&config(port, Duration::from_secs(10)), Bytes::new()).await.unwrap_err();
        assert!(matches!(err, PostError::Status { status, .. } if status == 500), "{err}");
        assert!(err.is_transient());
        let (port, _seen) = receiver(Some("HTTP/1.1 404 No\r\ncontent-length: 0\r\n\r\n")).await;
        let err = post(&config(port, Duration::from_secs(10)), Bytes::new()).await.unwrap_err();
        assert!(!err.is_transient(), "{err}");
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_is_cut_at_the_timeout() {
        let (port, seen) = receiver(None).await;
        let err = post(&config(port, Duration::from_millis(200)), Bytes::new()).await.unwrap_err();
        assert!(matches!(err, PostError::TimedOut { .. }), "{err}");
        assert!(err.to_string().contains("within 200ms"), "{err}");
        seen.abort();
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = post(&config(port, Duration::from_secs(10)), Bytes::new()).await.unwrap_err();
        assert!(matches!(err, PostError::Connect { .. }), "{err}");
        assert!(err.is_transient());
    }
}
