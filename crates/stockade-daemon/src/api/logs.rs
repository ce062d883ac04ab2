//! `GET /api/jobs/{id}/logs` and `GET /api/services/{name}/logs`: a run's
//! output as records with their time and stream (`stockade_engine::log_read`).
//!
//! Without `follow`: one JSON body, [`LogPage`], filtered by `since`,
//! `until`, `stream` and `tail`, read across the rotated files. With
//! `?follow=true`: Server-Sent Events, one `line` event per record whose id
//! is its [`LogPos`] (`<inode>-<logical offset>`), so `Last-Event-ID` (or
//! `?after=`) resumes exactly after the last record received, across
//! rotations and daemon restarts. The follower sleeps on inotify (the
//! `inotify` crate: Linux-only like the rest, one fd per follower, and a
//! tokio stream, without `notify`'s watcher thread and channel) on the live
//! file, and on the engine's events for the job's end. It ends with one
//! `end` event whose data says why: `{"reason":"ended"}` (the job finished;
//! everything was sent) or `{"reason":"daemon_stopping"}`.

use super::{AppState, Failure};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use inotify::{Inotify, WatchMask};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;
use stockade_engine::EngineError;
use stockade_engine::log_read::{self, LogPos, ReadLine};
use stockade_proto::log_record::{format_rfc3339, parse_rfc3339};
use stockade_proto::{EventKind, JobId};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// How long a client waits before it reconnects (the SSE `retry:` field).
const RETRY: Duration = Duration::from_secs(1);
/// A safety net beside inotify: a follower re-reads at least this often.
const RESCAN: Duration = Duration::from_secs(5);

/// Query of the log endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    replica: u32,
    /// Only the last N records (before following).
    tail: Option<usize>,
    /// Only records at or after this time (RFC 3339, or Unix milliseconds).
    since: Option<String>,
    /// Only records before this time.
    until: Option<String>,
    /// `stdout` or `stderr`.
    stream: Option<String>,
    /// Resume after this position (as `Last-Event-ID`).
    after: Option<String>,
    /// Only the run before the newest one (not with `follow`).
    #[serde(default)]
    previous: bool,
}

/// One record of a run's output.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LogLine {
    /// When the line was read from the agent's pipe (RFC 3339, UTC, ns);
    /// `null` for a line logged before records were tagged.
    pub ts: Option<String>,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The text, without its newline (invalid UTF-8 replaced).
    pub text: String,
    /// A piece of a longer line (over 16 KiB, or held 100 ms without a
    /// newline): the next record of the same stream continues it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// The position after this record (an SSE event id).
    pub pos: String,
}

/// The records of a log read.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LogPage {
    /// The records, oldest first.
    pub lines: Vec<LogLine>,
    /// Follow or resume from here (`?after=` or `Last-Event-ID`).
    pub next: String,
}

/// Why a follow stream ended (the `end` event's data).
#[derive(Debug, Serialize, JsonSchema)]
pub struct LogEnd {
    /// `ended`: the job finished and every record was sent;
    /// `daemon_stopping`: the daemon is stopping (resume with `Last-Event-ID`
    /// once it is back).
    pub reason: String,
}

impl LogLine {
    fn of(line: &ReadLine) -> LogLine {
        LogLine {
            ts: line.ts_ns.map(format_rfc3339),
            stream: line.stream.as_str().to_string(),
            text: line.text.clone(),
            partial: line.partial,
            pos: line.pos.to_string(),
        }
    }
}

/// The filters of a read.
struct Filter {
    since: Option<i64>,
    until: Option<i64>,
    stream: Option<String>,
}

impl Filter {
    fn of(query: &LogQuery) -> Result<Filter, Failure> {
        let time = |name: &str, v: &Option<String>| -> Result<Option<i64>, Failure> {
            let Some(v) = v else { return Ok(None) };
            if let Ok(ms) = v.parse::<i64>() {
                return Ok(Some(ms.saturating_mul(1_000_000)));
            }
            parse_rfc3339(v.as_bytes()).map(Some).ok_or_else(|| {
                bad(
                    format!("`{name}={v}` is not a time"),
                    "give RFC 3339 (2026-12-02T14:00:00Z) or Unix milliseconds".into(),
                )
            })
        };
        if let Some(s) = &query.stream
            && s != "stdout"
            && s != "stderr"
        {
            return Err(bad(format!("unknown stream `{s}`"), "streams: stdout, stderr".into()));
        }
        Ok(Filter {
            since: time("since", &query.since)?,
            until: time("until", &query.until)?,
            stream: query.stream.clone(),
        })
    }

    /// Untagged lines have no time: a time filter keeps them (they cannot be placed).
    fn keeps(&self, line: &ReadLine) -> bool {
        let ts_ok = match line.ts_ns {
            Some(ts) => self.since.is_none_or(|s| ts >= s) && self.until.is_none_or(|u| ts < u),
            None => true,
        };
        ts_ok && self.stream.as_deref().is_none_or(|s| s == line.stream.as_str())
    }
}

fn bad(message: String, hint: String) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, "bad_query", message, hint)
}

/// What a log endpoint reads and how its follow ends.
struct Source {
    path: PathBuf,
    keep: u32,
    /// The job whose end ends a follow (services follow until the daemon stops).
    job: Option<JobId>,
}

/// A job's output.
pub async fn job(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, Failure> {
    let id = JobId(super::error::path_id(&id?.0, "job")?);
    let Query(query) = query?;
    let store = state.store.clone();
    let known = tokio::task::spawn_blocking(move || store.job(id)).await.map_err(join)??;
    if known.is_none() {
        return Err(EngineError::UnknownJob { id }.into());
    }
    let path = state.spec().daemon.state_dir.join("logs/jobs").join(format!("{id}.log"));
    let keep = state.spec().daemon.log_keep;
    serve(state, headers, query, Source { path, keep, job: Some(id) }).await
}

/// A service replica's output (all of its runs, in one rotated file).
pub async fn service(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, Failure> {
    let Query(query) = query?;
    if state.spec().service(&name).is_none() {
        let known = state.spec().services.iter().map(|s| s.name.clone()).collect();
        return Err(EngineError::UnknownService { name, known }.into());
    }
    let path =
        state.spec().daemon.state_dir.join("logs").join(format!("{name}.{}.log", query.replica));
    let keep = state.spec().daemon.log_keep;
    serve(state, headers, query, Source { path, keep, job: None }).await
}

fn join(err: tokio::task::JoinError) -> Failure {
    Failure::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("a log read failed: {err}"),
        "retry; if it persists, report it with the daemon's log",
    )
}

fn io_failure(path: &std::path::Path, err: std::io::Error) -> Failure {
    Failure::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "log_unreadable",
        format!("cannot read {}: {err}", path.display()),
        "check the state directory's permissions and free space",
    )
}

async fn read_blocking(
    source: &Source,
    from: Option<LogPos>,
) -> Result<(Vec<ReadLine>, LogPos), Failure> {
    let (path, keep) = (source.path.clone(), source.keep);
    let p = path.clone();
    tokio::task::spawn_blocking(move || log_read::read(&p, keep, from))
        .await
        .map_err(join)?
        .map_err(|e| io_failure(&path, e))
}

/// Read everything after `from` that passes `filter`, keeping the last
/// `tail`; `previous`: only the run before the newest (between the last two
/// run-start markers).
async fn read_all(
    source: &Source,
    mut from: Option<LogPos>,
    filter: &Filter,
    (tail, previous): (Option<usize>, bool),
) -> Result<(VecDeque<ReadLine>, LogPos), Failure> {
    let mut kept = VecDeque::new();
    let mut before = VecDeque::new();
    loop {
        let (lines, next) = read_blocking(source, from).await?;
        let done = lines.is_empty();
        for line in lines {
            if line.start {
                if previous {
                    before = std::mem::take(&mut kept);
                }
                continue;
            }
            if !filter.keeps(&line) {
                continue;
            }
            kept.push_back(line);
            if tail.is_some_and(|t| kept.len() > t) {
                kept.pop_front();
            }
        }
        if done {
            return Ok((if previous { before } else { kept }, next));
        }
        from = Some(next);
    }
}

async fn serve(
    state: AppState,
    headers: HeaderMap,
    query: LogQuery,
    source: Source,
) -> Result<Response, Failure> {
    let filter = Filter::of(&query)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.after.clone());
    let from = match resume {
        Some(text) => Some(text.trim().parse::<LogPos>().map_err(|why| {
            bad(why, "resume with the `id` of the last event received, or `next`".into())
        })?),
        None => None,
    };
    // Subscribe before the first read, so an end between the two is seen.
    let live = state.engine.subscribe();
    let (backlog, next) = read_all(&source, from, &filter, (query.tail, query.previous)).await?;
    if !query.follow || query.previous {
        let lines = backlog.iter().map(LogLine::of).collect();
        return Ok(Json(LogPage { lines, next: next.to_string() }).into_response());
    }
    let ended = match source.job {
        Some(id) => job_ended(&state, id).await,
        None => false,
    };
    let follow = Follow {
        source,
        filter,
        pos: next,
        backlog,
        live,
        ended,
        stopping: state.stopping.clone(),
        inotify: None,
        finished: false,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        Some((Ok::<_, Infallible>(event), f))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

async fn job_ended(state: &AppState, id: JobId) -> bool {
    if state.engine.job(id).await.is_ok_and(|v| !v.state.is_terminal()) {
        return false;
    }
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.job(id))
        .await
        .ok()
        .and_then(|r| r.ok().flatten())
        .is_none_or(|r| r.state.is_terminal())
}

/// A follow in progress.
struct Follow {
    source: Source,
    filter: Filter,
    pos: LogPos,
    backlog: VecDeque<ReadLine>,
    live: broadcast::Receiver<stockade_proto::Event>,
    /// The job has ended: send what is left, then `end`.
    ended: bool,
    stopping: CancellationToken,
    /// The inotify stream, and whether it watches the file (else its directory).
    inotify: Option<(Watch, bool)>,
    finished: bool,
}

impl Follow {
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(line) = self.backlog.pop_front() {
                let data = serde_json::to_string(&LogLine::of(&line)).unwrap_or_default();
                return Some(
                    SseEvent::default()
                        .id(line.pos.to_string())
                        .event("line")
                        .retry(RETRY)
                        .data(data),
                );
            }
            if self.finished {
                return None;
            }
            if self.stopping.is_cancelled() {
                return Some(self.end("daemon_stopping"));
            }
            // Watch before reading, so a write between the read and the wait wakes us.
            if !self.inotify.as_ref().is_some_and(|(_, on_file)| *on_file) {
                self.inotify = watch(&self.source.path);
            }
            let read = read_blocking(&self.source, Some(self.pos)).await;
            match read {
                Ok((lines, next)) => {
                    let new = !lines.is_empty() || next != self.pos;
                    self.pos = next;
                    let filter = &self.filter;
                    self.backlog.extend(lines.into_iter().filter(|l| !l.start && filter.keeps(l)));
                    if new {
                        continue;
                    }
                }
                Err(err) => {
                    tracing::warn!(path = %self.source.path.display(), ?err, "a followed log could not be read")
                }
            }
            if self.ended {
                return Some(self.end("ended"));
            }
            self.wait().await;
        }
    }

    fn end(&mut self, reason: &str) -> SseEvent {
        self.finished = true;
        let data = serde_json::to_string(&LogEnd { reason: reason.into() }).unwrap_or_default();
        SseEvent::default().event("end").data(data)
    }

    /// Sleep until the file changes, the job ends or the daemon stops.
    async fn wait(&mut self) {
        let job = self.source.job;
        let file = async {
            match self.inotify.as_mut() {
                Some((events, _)) => {
                    if let Some(events) = events.0.as_mut() {
                        let _ = events.next().await;
                    }
                }
                None => tokio::time::sleep(RESCAN).await,
            }
        };
        tokio::select! {
            () = file => {}
            () = tokio::time::sleep(RESCAN) => { self.inotify = None; }
            () = self.stopping.cancelled() => {}
            ended = job_end(&mut self.live, job) => if ended { self.ended = true },
        }
    }
}

/// Resolves `true` when `job` reaches a terminal state (never for a service).
async fn job_end(
    live: &mut broadcast::Receiver<stockade_proto::Event>,
    job: Option<JobId>,
) -> bool {
    let Some(id) = job else { return std::future::pending().await };
    loop {
        match live.recv().await {
            Ok(event) => {
                if let EventKind::JobState { job, state, .. } = event.kind
                    && job == id
                    && state.is_terminal()
                {
                    return true;
                }
            }
            // Missed events: re-read (the caller reads the file again anyway).
            Err(broadcast::error::RecvError::Lagged(_)) => return false,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

/// An inotify stream, closed on the blocking pool when dropped: closing an
/// inotify fd waits for an SRCU grace period in the kernel (10–20 ms seen by
/// the current-thread test), far too long for an async task.
struct Watch(Option<inotify::EventStream<Vec<u8>>>);

impl Drop for Watch {
    fn drop(&mut self) {
        let Some(events) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || drop(events));
            }
            Err(_) => drop(events),
        }
    }
}

/// An inotify stream on the live file (its writes, attribute changes of a
/// rotation, replacement), or on its directory until the file exists.
fn watch(path: &std::path::Path) -> Option<(Watch, bool)> {
    let inotify = Inotify::init().ok()?;
    let on_file = WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::CLOSE_WRITE;
    let mut file = inotify.watches().add(path, on_file).is_ok();
    if !file {
        let dir = path.parent()?;
        std::fs::create_dir_all(dir).ok()?;
        inotify.watches().add(dir, WatchMask::CREATE | WatchMask::MOVED_TO).ok()?;
        // Created between the failed watch and this one? Watch it on the same fd.
        if path.exists() {
            file = inotify.watches().add(path, on_file).is_ok();
        }
    }
    let events = inotify.into_event_stream(vec![0u8; 4096]).ok()?;
    Some((Watch(Some(events)), file))
}
