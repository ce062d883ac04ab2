//! `/api/jobs`: submit, list, get, cancel. Mirrors `Command::Submit`,
//! `Command::Job(s)`, `Command::Cancel` and `stockade run | ps | cancel`.

use super::{AppState, Failure};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;
use stockade_engine::{EngineError, job_view_from_record};
use stockade_proto::{JobId, JobRequest, JobState, JobView, RunView};
use stockade_store::JobFilter;

/// `POST /api/jobs`: one request object → one answer; an array → an array,
/// committed atomically. 201 once durable. The body must be sent as
/// `application/json` (`crate::guard`; a form post is 415). A request may set
/// only the env keys its template lists in `submit_env` — one that sets any
/// other is refused with 400 and nothing of its batch is queued — and never
/// the command (`JobRequest` has no such field; unknown fields are refused).
pub async fn submit(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let body: serde_json::Value = serde_json::from_slice(&body?).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("the body is not JSON: {e}"),
            "send a JSON object like {\"template\": \"agent\", \"args\": [\"--task\", \"42\"]}",
        )
    })?;
    let batch = body.is_array();
    let requests: Vec<JobRequest> = if batch {
        serde_json::from_value(body).map_err(bad_body)?
    } else {
        vec![serde_json::from_value(body).map_err(bad_body)?]
    };
    if requests.is_empty() {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "empty_batch",
            "the batch is empty",
            "send at least one job",
        ));
    }
    for request in &requests {
        check_submit_env(&state, request)?;
    }
    let mut submitted = state.engine.submit_many(requests).await?;
    let body =
        if batch { serde_json::to_value(submitted) } else { serde_json::to_value(submitted.pop()) };
    Ok((StatusCode::CREATED, Json(body.unwrap_or_default())).into_response())
}

/// 400 if `request` sets an env key its template does not list in
/// `submit_env`. An unknown template is left to the engine (404).
fn check_submit_env(state: &AppState, request: &JobRequest) -> Result<(), Failure> {
    let Some(template) = state.spec.job(&request.template) else { return Ok(()) };
    let allowed = &template.submit_env;
    let Some(key) = request.env.keys().find(|k| !allowed.contains(k)) else { return Ok(()) };
    let list = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
    Err(Failure::new(
        StatusCode::BAD_REQUEST,
        "env_not_allowed",
        format!(
            "job template `{}` does not let a submission set {key}; allowed: {list}",
            request.template
        ),
        format!(
            "drop {key} from the request's env, or add it to `submit_env` of [job.{}] in the spec (PATH, HOME, LD_* and interpreter paths can never be added)",
            request.template
        ),
    ))
}

fn bad_body(err: serde_json::Error) -> Failure {
    Failure::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "bad_request",
        format!("the job request does not fit: {err}"),
        "fields: template (string), args (array of strings), env (object of strings), priority (integer)",
    )
}

/// Query of `GET /api/jobs`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Comma-separated states.
    state: Option<String>,
    template: Option<String>,
    pool: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/jobs`: newest first, live state for queued and running jobs.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, Failure> {
    let Query(query) = query?;
    let mut states = Vec::new();
    for name in query.state.iter().flat_map(|s| s.split(',')).filter(|s| !s.is_empty()) {
        let parsed: JobState = serde_json::from_value(serde_json::Value::String(name.to_string()))
            .map_err(|_| {
                Failure::new(
                    StatusCode::BAD_REQUEST,
                    "bad_query",
                    format!("unknown job state `{name}`"),
                    "states: queued, running, succeeded, failed, cancelled, expired, rejected",
                )
            })?;
        states.push(parsed);
    }
    let filter = JobFilter {
        states,
        template: query.template,
        pool: query.pool,
        limit: Some(query.limit.unwrap_or(100).min(10_000)),
    };
    // The newest `limit` stored rows hold at most `limit` live jobs, all among
    // the engine's newest `limit` live jobs that match: the limit is honoured
    // on both sides.
    let live: HashMap<JobId, JobView> =
        state.engine.jobs(filter.clone()).await?.into_iter().map(|v| (v.id, v)).collect();
    let records = state.store.jobs(&filter)?;
    let views: Vec<JobView> = records
        .iter()
        .map(|r| live.get(&r.id).cloned().unwrap_or_else(|| job_view_from_record(r)))
        .collect();
    let mut value = serde_json::to_value(views).unwrap_or_default();
    super::isolation::mark(&state.spec, &mut value);
    Ok(Json(value))
}

/// `GET /api/jobs/{id}`: state, cause, and every run so far.
pub async fn get(
    State(state): State<AppState>,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Json<serde_json::Value>, Failure> {
    let id = JobId(id?.0);
    let mut view = match state.engine.job(id).await {
        Ok(view) => view,
        Err(EngineError::UnknownJob { .. }) => match state.store.job(id)? {
            Some(record) => job_view_from_record(&record),
            None => return Err(EngineError::UnknownJob { id }.into()),
        },
        Err(err) => return Err(err.into()),
    };
    view.runs = state
        .store
        .runs_of_job(id)?
        .into_iter()
        .map(|r| RunView {
            id: r.id,
            attempt: r.attempt,
            pid: r.pid,
            started_at: r.started_at,
            ended_at: r.ended_at,
            cause: r.cause,
        })
        .collect();
    let mut value = serde_json::to_value(view).unwrap_or_default();
    super::isolation::mark(&state.spec, &mut value);
    Ok(Json(value))
}

/// `DELETE /api/jobs/{id}`: cancel; 409 if it already finished.
pub async fn cancel(
    State(state): State<AppState>,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Json<JobView>, Failure> {
    let id = JobId(id?.0);
    match state.engine.cancel(id).await {
        Ok(view) => Ok(Json(view)),
        Err(EngineError::UnknownJob { .. }) => match state.store.job(id)? {
            Some(record) => Err(EngineError::AlreadyFinished { id, state: record.state }.into()),
            None => Err(EngineError::UnknownJob { id }.into()),
        },
        Err(err) => Err(err.into()),
    }
}
