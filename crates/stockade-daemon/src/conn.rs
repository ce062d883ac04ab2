//! One admitted connection, served by hyper with the door's timers:
//!
//! - `header_timeout`: hyper's `header_read_timeout` — a request whose
//!   headers are dribbled (slowloris) is cut once it expires;
//! - `idle_timeout`: a connection with no request in flight (a response body
//!   still streaming — events, followed logs — counts as in flight) and no
//!   byte read or written for this long is closed.
//!
//! - eviction: the door cancels an idle connection to make room for a newcomer.
//!
//! Upgraded connections (`stockade exec`) leave hyper, and with it these
//! timers and the connection's slot, once the upgrade is handed over.

use crate::door::{Activity, Peer, Permit};
use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;
use tower_service::Service;

/// The timers of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// Headers must arrive within this.
    pub header: Duration,
    /// Closed after this long with nothing in flight and nothing moved.
    pub idle: Duration,
}

/// The peer of the request, for the guard's rate limit.
#[derive(Debug, Clone, Copy)]
pub struct PeerOf(pub Peer);

/// Counts a request in flight until its response body is done or dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: &Arc<Activity>) -> Busy {
        activity.busy(true);
        Busy(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy(false);
    }
}

/// A response body that keeps its request counted as in flight.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl HttpBody for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A socket that records when it last moved a byte.
struct Io<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Io<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Io<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serve `stream` until it closes, idles out, or `stop` asks it to finish.
pub async fn serve<S>(
    stream: S,
    app: Router,
    peer: Peer,
    timers: Timers,
    permit: Permit,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = permit.activity().clone();
    let evicted = permit.evicted().clone();
    let io = TokioIo::new(Io { inner: stream, activity: activity.clone() });
    let seen = activity.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let mut app = app.clone();
        let busy = Busy::new(&seen);
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(PeerOf(peer));
        async move {
            let response = app.call(req).await?;
            Ok::<_, std::convert::Infallible>(
                response.map(|inner| Body::new(Tracked { inner, _busy: busy })),
            )
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(timers.header);
    let conn = builder.serve_connection(io, service).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let tick = (timers.idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%peer, %err, "API connection ended");
                }
                break;
            }
            () = evicted.cancelled() => {
                tracing::debug!(%peer, "closing an idle API connection to make room for a new one");
                break;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep(tick) => {
                if activity.idle_for() >= timers.idle {
                    tracing::debug!(%peer, idle = ?timers.idle, "closing an idle API connection");
                    break;
                }
            }
        }
    }
    drop(permit);
}
