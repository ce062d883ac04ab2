//! `GET /api/events`: Server-Sent Events of every committed event.
//!
//! A client resumes with `Last-Event-ID` or `?since=SEQ`: the stream first
//! replays from the store, then follows the live broadcast. The engine never
//! waits on a client: a slow one falls behind the broadcast's bounded buffer
//! and is caught up from the store, so its memory stays bounded and nothing
//! is skipped.

use super::{AppState, Failure};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use stockade_proto::{Event, Seq};
use stockade_store::Store;
use tokio::sync::broadcast;

/// How many events one store read returns.
const PAGE: usize = 500;

/// Query of `GET /api/events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    since: Option<u64>,
    /// Start this many events before the newest.
    tail: Option<u64>,
    unit: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

struct Follow {
    store: Store,
    live: broadcast::Receiver<Event>,
    last: Seq,
    backlog: VecDeque<Event>,
    replaying: bool,
    unit: Option<String>,
    kind: Option<String>,
}

/// The event stream.
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, Failure> {
    let Query(query) = query?;
    let live = state.engine.subscribe();
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(query.since);
    let (last, replaying) = match (resume, query.tail) {
        (Some(seq), _) => (Seq(seq), true),
        (None, Some(tail)) => (Seq(state.store.last_seq()?.0.saturating_sub(tail)), true),
        (None, None) => (state.store.last_seq()?, false),
    };
    let follow = Follow {
        store: state.store.clone(),
        live,
        last,
        backlog: VecDeque::new(),
        replaying,
        unit: query.unit,
        kind: query.kind,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        let data = serde_json::to_string(&event).unwrap_or_default();
        let sse = SseEvent::default().id(event.seq.to_string()).event(type_name(&event)).data(data);
        Some((Ok(sse), f))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

impl Follow {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.last = event.seq;
                if self.wanted(&event) {
                    return Some(event);
                }
                continue;
            }
            if self.replaying {
                match self.store.events_since(self.last, PAGE) {
                    Ok(page) if page.is_empty() => self.replaying = false,
                    Ok(page) => self.backlog.extend(page),
                    Err(err) => {
                        tracing::warn!(%err, "event replay failed; ending the stream");
                        return None;
                    }
                }
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.seq > self.last => self.backlog.push_back(event),
                Ok(_) => {}
                // Fell behind the bounded broadcast: catch up from the store.
                Err(broadcast::error::RecvError::Lagged(_)) => self.replaying = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    fn wanted(&self, event: &Event) -> bool {
        self.unit.as_ref().is_none_or(|u| *u == event.unit)
            && self.kind.as_ref().is_none_or(|k| k == type_name(event))
    }
}

/// The `type` field of an event's JSON form.
fn type_name(event: &Event) -> &'static str {
    use stockade_proto::EventKind as K;
    match event.kind {
        K::ServiceState { .. } => "service_state",
        K::JobState { .. } => "job_state",
        K::RunStarted { .. } => "run_started",
        K::RunExited { .. } => "run_exited",
        K::OomKill { .. } => "oom_kill",
        K::Alert { .. } => "alert",
        K::Daemon { .. } => "daemon",
    }
}
