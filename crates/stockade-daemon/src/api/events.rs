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
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use stockade_proto::{Event, Seq};
use stockade_store::{Store, StoreError};
use tokio::sync::broadcast;

/// How many events one store read returns.
const PAGE: usize = 500;

/// How long a client waits before it reconnects (the SSE `retry:` field,
/// sent with every event).
const RETRY: Duration = Duration::from_secs(1);

/// Every event type, as `?type=` takes them.
pub const TYPES: [&str; 12] = [
    "service_state",
    "job_state",
    "run_started",
    "run_exited",
    "oom_kill",
    "alert",
    "schedule_fired",
    "schedule_skipped",
    "alert_firing",
    "alert_resolved",
    "daemon",
    "spec_reloaded",
];

/// Query of `GET /api/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    since: Option<u64>,
    /// Start this many events before the newest.
    tail: Option<u64>,
    unit: Option<String>,
    /// Only `job_state` events of this job.
    job: Option<u64>,
    /// Comma-separated event types.
    #[serde(rename = "type")]
    kind: Option<String>,
}

struct Follow {
    store: Store,
    live: broadcast::Receiver<Event>,
    last: Seq,
    backlog: VecDeque<Event>,
    replaying: bool,
    filter: Filter,
    /// Events taken from the backlog since the task last yielded.
    unyielded: usize,
}

/// How many backlog events one poll of the stream may encode before it
/// yields: a replay of thousands is ready at once, and encoding it all in
/// one go would hold the runtime for tens of milliseconds.
const YIELD_EVERY: usize = 32;

/// The event stream. A resume (`Last-Event-ID` or `?since=`) past the newest
/// stored event is refused with 400 `resume_past_end`: the id cannot be one
/// this store gave out (a different or reset state directory), and silently
/// waiting would hide every event until the sequence caught up.
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
    let mut kinds = Vec::new();
    for name in query.kind.iter().flat_map(|k| k.split(',')).filter(|k| !k.is_empty()) {
        if !TYPES.contains(&name) {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                format!("unknown event type `{name}`"),
                format!("types: {}", TYPES.join(", ")),
            ));
        }
        kinds.push(name.to_owned());
    }
    if let Some(seq) = resume {
        let newest = super::read::store(&state.store, |s| s.last_seq()).await?;
        if seq > newest.0 {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "resume_past_end",
                format!("event {seq} is past the newest event, {}", newest.0),
                format!(
                    "this daemon's store has events up to {}; resume from at most that (or 0 for all)",
                    newest.0
                ),
            ));
        }
    }
    let mut follow = Follow {
        store: state.store.clone(),
        live,
        last: Seq(0),
        backlog: VecDeque::new(),
        replaying: true,
        filter: Filter { unit: query.unit, job: query.job, kinds },
        unyielded: 0,
    };
    match (resume, query.tail) {
        (Some(seq), _) => follow.last = Seq(seq),
        (None, Some(tail)) => {
            // The tail counts the events the filters keep, not the newest
            // `tail` of all events filtered afterwards.
            let filter = follow.filter.clone();
            let store = state.store.clone();
            follow.last = tokio::task::spawn_blocking(move || tail_start(&store, &filter, tail))
                .await
                .map_err(|e| {
                    Failure::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "store_failed",
                        format!("reading the event tail failed: {e}"),
                        "see the daemon's log",
                    )
                })??;
        }
        (None, None) => {
            follow.last = super::read::store(&state.store, |s| s.last_seq()).await?;
            follow.replaying = false;
        }
    }
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        let data = serde_json::to_string(&event).unwrap_or_default();
        let sse = SseEvent::default()
            .id(event.seq.to_string())
            .event(type_name(&event))
            .retry(RETRY)
            .data(data);
        Some((Ok(sse), f))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// What a stream keeps: by unit, job and type.
#[derive(Debug, Clone)]
struct Filter {
    unit: Option<String>,
    job: Option<u64>,
    kinds: Vec<String>,
}

impl Filter {
    fn wanted(&self, event: &Event) -> bool {
        let job = match &event.kind {
            stockade_proto::EventKind::JobState { job, .. } => Some(job.0),
            _ => None,
        };
        self.unit.as_ref().is_none_or(|u| *u == event.unit)
            && self.job.is_none_or(|j| job == Some(j))
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == type_name(event)))
    }
}

/// The seq to replay after so that the stream starts with the newest `tail`
/// events `filter` keeps (walking back through the store page by page).
fn tail_start(store: &Store, filter: &Filter, tail: u64) -> Result<Seq, StoreError> {
    let newest = store.last_seq()?;
    if tail == 0 {
        return Ok(newest);
    }
    let mut before = Seq(newest.0.saturating_add(1));
    let mut kept = 0u64;
    loop {
        let page = store.events_before(before, PAGE)?;
        let Some(oldest) = page.last() else { return Ok(Seq(0)) };
        before = oldest.seq;
        for event in &page {
            if filter.wanted(event) {
                kept += 1;
                if kept == tail {
                    return Ok(Seq(event.seq.0.saturating_sub(1)));
                }
            }
        }
    }
}

impl Follow {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.unyielded += 1;
                if self.unyielded >= YIELD_EVERY {
                    self.unyielded = 0;
                    tokio::task::yield_now().await;
                }
                self.last = event.seq;
                if self.wanted(&event) {
                    return Some(event);
                }
                continue;
            }
            if self.replaying {
                let last = self.last;
                match super::read::store(&self.store, move |s| s.events_since(last, PAGE)).await {
                    Ok(page) if page.is_empty() => self.replaying = false,
                    Ok(page) => self.backlog.extend(page),
                    Err(err) => {
                        tracing::warn!(?err, "event replay failed; ending the stream");
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
        self.filter.wanted(event)
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
        K::ScheduleFired { .. } => "schedule_fired",
        K::ScheduleSkipped { .. } => "schedule_skipped",
        K::AlertFiring { .. } => "alert_firing",
        K::AlertResolved { .. } => "alert_resolved",
        K::Daemon { .. } => "daemon",
        K::SpecReloaded { .. } => "spec_reloaded",
    }
}
