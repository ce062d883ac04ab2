//! `GET /api/jobs/{id}/logs` and `GET /api/services/{name}/logs`: a run's
//! output as plain text; `?follow=true` keeps the response open and sends
//! new lines as they are written (rotation-aware), until the job ends.

use super::{AppState, Failure};
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;
use stockade_engine::EngineError;
use stockade_proto::JobId;

/// How often a followed log file is checked for new bytes.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);
/// The most bytes sent from the end of the file when not following from the start.
const TAIL_BYTES: u64 = 1 << 20;

/// Query of the log endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    replica: u32,
}

/// A job's output.
pub async fn job(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, Failure> {
    let id = JobId(super::error::path_id(&id?.0, "job")?);
    let Query(query) = query?;
    if super::read::store(&state.store, move |s| s.job(id)).await?.is_none() {
        return Err(EngineError::UnknownJob { id }.into());
    }
    let path = state.spec().daemon.state_dir.join("logs/jobs").join(format!("{id}.log"));
    let engine = state.engine.clone();
    let store = state.store.clone();
    let done = move || {
        let engine = engine.clone();
        let store = store.clone();
        async move {
            // A job the engine no longer holds is finished; one more read drains it.
            engine.job(id).await.is_err()
                && super::read::store(&store, move |s| s.job(id))
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.state.is_terminal())
        }
    };
    Ok(serve(path, query.follow, done).await)
}

/// A service replica's output (all of its runs, in one rotated file).
pub async fn service(
    State(state): State<AppState>,
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
    Ok(serve(path, query.follow, || async { false }).await)
}

async fn serve<F, Fut>(path: PathBuf, follow: bool, done: F) -> Response
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    // File reads on the blocking pool: a log may sit on a slow disk, and a
    // read is up to 1 MiB.
    let file = path.clone();
    let start = tokio::task::spawn_blocking(move || {
        std::fs::metadata(&file).map(|m| m.len().saturating_sub(TAIL_BYTES)).unwrap_or(0)
    })
    .await
    .unwrap_or(0);
    let state = (path, start, follow, done, false);
    let stream =
        futures_util::stream::unfold(state, |(path, mut pos, follow, done, mut last)| async move {
            loop {
                let (chunk, at) = read_more(&path, pos).await;
                pos = at;
                if let Some(chunk) = chunk {
                    return Some((Ok::<_, std::io::Error>(chunk), (path, pos, follow, done, last)));
                }
                if !follow || last {
                    return None;
                }
                // After the job ends, read once more so its last lines are sent.
                last = done().await;
                if !last {
                    tokio::time::sleep(FOLLOW_EVERY).await;
                }
            }
        });
    let mut response = Body::from_stream(stream).into_response();
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, "text/plain; charset=utf-8".parse().expect("valid header"));
    response
}

/// [`read_from`] on the blocking pool: the bytes, and the new position.
async fn read_more(path: &std::path::Path, pos: u64) -> (Option<Vec<u8>>, u64) {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut pos = pos;
        (read_from(&path, &mut pos), pos)
    })
    .await
    .unwrap_or((None, pos))
}

/// New bytes since `pos`, following a rotation (the file shrank) from its start.
fn read_from(path: &std::path::Path, pos: &mut u64) -> Option<Vec<u8>> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len < *pos {
        *pos = 0;
    }
    if len == *pos {
        return None;
    }
    file.seek(SeekFrom::Start(*pos)).ok()?;
    let mut buf = Vec::with_capacity((len - *pos).min(1 << 20) as usize);
    file.take(1 << 20).read_to_end(&mut buf).ok()?;
    *pos += buf.len() as u64;
    (!buf.is_empty()).then_some(buf)
}
