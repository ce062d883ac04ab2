//! Where events are seen: the engine's broadcast (≈ the commit) and an
//! SSE client of `GET /api/events` over the daemon's Unix socket, each
//! stamping events as they arrive.

use crate::PATIENCE;
use crate::removals::{Removals, watch_removals};
use http_body_util::BodyExt;
use hyper::Method;
use std::time::{Instant, SystemTime};
use stockade_proto::{Event, EventKind, ExitCause, RunId};
use stockade_testkit::TestDaemon;
use tokio::sync::mpsc;

/// One event as an observer saw it, stamped on arrival.
pub(crate) struct Seen {
    pub(crate) event: Event,
    pub(crate) at: Instant,
    pub(crate) wall: SystemTime,
}

/// The two places an event is observed.
pub(crate) struct Observers {
    pub(crate) bus: mpsc::UnboundedReceiver<Seen>,
    pub(crate) sse: mpsc::UnboundedReceiver<Seen>,
    pub(crate) removals: Option<Removals>,
}

/// Watch both the engine's broadcast and an SSE client of `daemon`.
pub(crate) async fn observe(daemon: &TestDaemon) -> Observers {
    let (bus_tx, bus) = mpsc::unbounded_channel();
    let mut live = daemon.running.engine.subscribe();
    tokio::spawn(async move {
        loop {
            match live.recv().await {
                Ok(event) => {
                    let seen = Seen { event, at: Instant::now(), wall: SystemTime::now() };
                    if bus_tx.send(seen).is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("warning: the bench's broadcast receiver lagged by {n} events");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let (sse_tx, sse) = mpsc::unbounded_channel();
    let response = daemon.api.open(Method::GET, "/api/events", None, &[]).await;
    assert!(response.status().is_success(), "GET /api/events: {}", response.status());
    let mut body = response.into_body();
    tokio::spawn(async move {
        let mut pending = Vec::<u8>::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Some(bytes) = frame.data_ref() else { continue };
            pending.extend_from_slice(bytes);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let Some(data) = line.strip_prefix(b"data:") else { continue };
                let (at, wall) = (Instant::now(), SystemTime::now());
                match serde_json::from_slice::<Event>(data.trim_ascii()) {
                    Ok(event) => {
                        if sse_tx.send(Seen { event, at, wall }).is_err() {
                            return;
                        }
                    }
                    Err(err) => eprintln!("warning: unparsable SSE data line: {err}"),
                }
            }
        }
    });
    Observers { bus, sse, removals: watch_removals(&daemon.parent) }
}

/// The next event on `rx` that `want` picks, or a panic after [`PATIENCE`].
pub(crate) async fn next<T>(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    what: &str,
    want: impl Fn(&Event) -> Option<T>,
) -> (T, Seen) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let seen = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {PATIENCE:?}"))
            .unwrap_or_else(|| panic!("the stream ended while waiting for {what}"));
        if let Some(found) = want(&seen.event) {
            return (found, seen);
        }
    }
}

/// A run of `unit` newer than `after` started (run ids only grow).
pub(crate) fn started(unit: &str, after: RunId) -> impl Fn(&Event) -> Option<(RunId, u32)> + '_ {
    move |e| match e.kind {
        EventKind::RunStarted { run, pid } if e.unit == unit && run > after => Some((run, pid)),
        _ => None,
    }
}

pub(crate) fn started_run(run: RunId) -> impl Fn(&Event) -> Option<()> {
    move |e| matches!(e.kind, EventKind::RunStarted { run: r, .. } if r == run).then_some(())
}

pub(crate) fn exited(run: RunId) -> impl Fn(&Event) -> Option<ExitCause> {
    move |e| match &e.kind {
        EventKind::RunExited { run: r, cause } if *r == run => Some(cause.clone()),
        _ => None,
    }
}
