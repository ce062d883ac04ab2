//! `/api/jobs`: submit, list, get, cancel. Mirrors `Command::Submit`,
//! `Command::Job(s)`, `Command::Cancel` and `stockade run | ps | cancel`.

use super::error::path_id;
use super::{AppState, Failure};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;
use stockade_engine::{EngineError, job_view_from_record};
use stockade_proto::{
    JobId, JobRequest, JobState, JobView, PoolView, QueuePosition, RunView, Submitted,
};
use stockade_store::{JobFilter, JobRecord};

/// `POST /api/jobs`: one request object → one answer; an array → an array,
/// committed atomically. 201 once durable. The body must be sent as
/// `application/json` (`crate::guard`; a form post is 415). A request may set
/// only the env keys its template lists in `submit_env` — one that sets any
/// other is refused with 400 and nothing of its batch is queued — and never
/// the command (`JobRequest` has no such field; unknown fields are refused).
///
/// `Idempotency-Key: KEY` (or `idempotency_key` per item of a batch) makes a
/// retry safe: a job already submitted with the key is answered (200, the
/// same id, `Idempotent-Replayed: true`) instead of queuing a second one. The
/// key is stored with the job (a unique column), so this holds across daemon
/// restarts.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
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
    let mut requests = requests;
    if let Some(key) = header_key(&headers)? {
        match (batch, &requests[0].idempotency_key) {
            (true, _) => {
                return Err(Failure::new(
                    StatusCode::BAD_REQUEST,
                    "bad_idempotency_key",
                    "a batch cannot share one Idempotency-Key",
                    "give each item its own `idempotency_key` field instead",
                ));
            }
            (false, Some(own)) if *own != key => {
                return Err(Failure::new(
                    StatusCode::BAD_REQUEST,
                    "bad_idempotency_key",
                    "the Idempotency-Key header and the body's idempotency_key differ",
                    "send the key once, in the header",
                ));
            }
            (false, _) => requests[0].idempotency_key = Some(key),
        }
    }
    for request in &requests {
        check_strings(request)?;
        check_key(request)?;
        check_submit_env(&state, request)?;
        // A member's own ceiling does not bound the cluster: a job too big
        // for this host may fit another (and says why while it waits).
        if state.cluster.is_none() {
            check_fits(&state, request)?;
        }
    }
    if let Some(cluster) = &state.cluster {
        return cluster_submit(cluster, requests, batch).await;
    }
    let keyed = requests.iter().any(|r| r.idempotency_key.is_some());
    // Keyed submissions take turns, so two retries racing each other cannot
    // both miss the lookup and queue the job twice.
    let _turn = if keyed { Some(KEYED.lock().await) } else { None };
    let mut earlier = Vec::with_capacity(requests.len());
    let mut seen = std::collections::HashSet::new();
    for request in &requests {
        let Some(key) = &request.idempotency_key else {
            earlier.push(None);
            continue;
        };
        if !seen.insert(key.clone()) {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "bad_idempotency_key",
                format!("idempotency key `{key}` is used twice in one batch"),
                "give every item of a batch its own key",
            ));
        }
        let key = key.clone();
        earlier
            .push(super::read::store(&state.store, move |s| s.job_by_idempotency_key(&key)).await?);
    }
    let fresh: Vec<JobRequest> =
        requests.into_iter().zip(&earlier).filter(|(_, e)| e.is_none()).map(|(r, _)| r).collect();
    let created = !fresh.is_empty();
    let mut submitted = if created {
        state.engine.submit_many(fresh).await?.into_iter()
    } else {
        Vec::new().into_iter()
    };
    let pools =
        if earlier.iter().any(Option::is_some) { state.engine.queue().await? } else { Vec::new() };
    let mut answers = Vec::with_capacity(earlier.len());
    for record in earlier {
        match record {
            Some(record) => answers.push(replay(&state, &record, &pools).await),
            None => answers.extend(submitted.next()),
        }
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    if batch {
        let body = serde_json::to_value(answers).unwrap_or_default();
        return Ok((status, Json(body)).into_response());
    }
    let Some(one) = answers.pop() else {
        return Err(Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "submit_lost",
            "the engine answered a submission with no job",
            "this is a bug in stockade; list jobs to see whether it was queued",
        ));
    };
    let mut response =
        (status, [(header::LOCATION, format!("/api/jobs/{}", one.id))], Json(one)).into_response();
    if !created {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A member's submission: queued in the shared queue, in one transaction.
async fn cluster_submit(
    cluster: &crate::cluster::Cluster,
    requests: Vec<JobRequest>,
    batch: bool,
) -> Result<Response, Failure> {
    let answers = cluster.submit(&requests).await?;
    let created = answers.iter().any(|(_, new)| *new);
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let mut out: Vec<Submitted> = answers
        .iter()
        .map(|(job, _)| Submitted {
            id: JobId(job.id),
            status: job.state,
            queue: QueuePosition { position: 0, running: 0, max_concurrency: 0 },
        })
        .collect();
    if batch {
        return Ok((status, Json(out)).into_response());
    }
    let one = out.pop().ok_or_else(|| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "submit_lost",
            "no job answered",
            "list jobs",
        )
    })?;
    let mut response =
        (status, [(header::LOCATION, format!("/api/jobs/{}", one.id))], Json(one)).into_response();
    if !created {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Keyed submissions, one at a time (see [`submit`]).
static KEYED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The longest idempotency key accepted.
const MAX_KEY: usize = 255;

/// The `Idempotency-Key` header, if sent.
fn header_key(headers: &HeaderMap) -> Result<Option<String>, Failure> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    match value.to_str() {
        Ok(key) => Ok(Some(key.to_owned())),
        Err(_) => Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_idempotency_key",
            "the Idempotency-Key header is not visible ASCII",
            "use a key of letters, digits and punctuation, such as `task-42`",
        )),
    }
}

/// 400 for an empty or overlong key.
fn check_key(request: &JobRequest) -> Result<(), Failure> {
    match &request.idempotency_key {
        Some(key) if key.is_empty() || key.len() > MAX_KEY || key.contains('\0') => {
            Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "bad_idempotency_key",
                format!("idempotency key {key:?} is empty, holds NUL, or is over {MAX_KEY} bytes"),
                "use a short key that names the task, such as `task-42`",
            ))
        }
        _ => Ok(()),
    }
}

/// The answer to a submission whose key was already used: the first job, as
/// it stands now.
async fn replay(state: &AppState, record: &JobRecord, pools: &[PoolView]) -> Submitted {
    let live = state.engine.job(record.id).await.ok();
    let pool = pools.iter().find(|p| p.name == record.pool);
    Submitted {
        id: record.id,
        status: live.as_ref().map_or(record.state, |v| v.state),
        queue: QueuePosition {
            position: live.and_then(|v| v.position).unwrap_or(0),
            running: pool.map_or(0, |p| p.running),
            max_concurrency: pool.map_or(0, |p| p.max_concurrency),
        },
    }
}

/// 422 if an argument, an env key or an env value could not reach `execve`
/// as sent: a NUL ends a C string early, and `=` in a key splits it.
fn check_strings(request: &JobRequest) -> Result<(), Failure> {
    let refuse = |what: String| {
        Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            format!("the job request does not fit: {what}"),
            "arguments and env values may hold any character but NUL; env keys neither NUL nor `=`",
        ))
    };
    if let Some(i) = request.args.iter().position(|a| a.contains('\0')) {
        return refuse(format!("args[{i}] holds a NUL byte"));
    }
    for (key, value) in &request.env {
        if key.is_empty() || key.contains('\0') || key.contains('=') {
            return refuse(format!("env key {key:?} is empty or holds `=` or NUL"));
        }
        if value.contains('\0') {
            return refuse(format!("env value of {key} holds a NUL byte"));
        }
    }
    Ok(())
}

/// 400 if `request` sets an env key its template does not list in
/// `submit_env`. An unknown template is left to the engine (404).
fn check_submit_env(state: &AppState, request: &JobRequest) -> Result<(), Failure> {
    let running = state.spec();
    let Some(template) = running.job(&request.template) else { return Ok(()) };
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

/// 422 if the template's memory limit is more than the host could ever
/// give one run (its total memory less `reserve_memory`): admission counts a
/// template with no history by its limit, so such a job would wait in the
/// queue forever, held for host headroom.
fn check_fits(state: &AppState, request: &JobRequest) -> Result<(), Failure> {
    let spec = state.spec();
    let Some(template) = spec.job(&request.template) else { return Ok(()) };
    let (Some(memory), Some(ceiling)) = (template.limits.memory, state.memory_ceiling) else {
        return Ok(());
    };
    if memory <= ceiling {
        return Ok(());
    }
    let human = stockade_linux::human_bytes;
    Err(Failure::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "never_fits",
        format!(
            "job template `{}` asks for {} of memory, but this host can never give one run more than {} (its memory less the {} reserve); it would wait in the queue forever",
            request.template,
            human(memory),
            human(ceiling),
            human(spec.daemon.reserve_memory),
        ),
        format!(
            "lower limits.memory of [job.{}] to at most {} (or `reserve_memory` in [daemon]), then submit again",
            request.template,
            human(ceiling)
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

/// The page size of a list when `?limit=` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `?limit=` accepted.
pub const MAX_LIMIT: usize = 10_000;

/// Query of `GET /api/jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Comma-separated states.
    state: Option<String>,
    template: Option<String>,
    pool: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/jobs`: a [`stockade_proto::Page`] of jobs, newest first, live state for queued
/// and running jobs; `?cursor=` is the previous page's `next`.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Failure> {
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
    let limit = page_limit(query.limit)?;
    let before = query.cursor.as_deref().map(|c| cursor(c).map(JobId)).transpose()?;
    if let Some(cluster) = &state.cluster {
        let filter = stockade_cluster::JobFilter {
            states,
            pool: query.pool,
            template: query.template,
            before: before.map(|b| b.0),
            limit: limit as u64 + 1,
        };
        let member = cluster.reader();
        let (mut jobs, total) = member.jobs(&filter).await.map_err(crate::cluster::failure)?;
        let next = (jobs.len() > limit).then(|| {
            jobs.truncate(limit);
            jobs.last().map(|j| j.id.to_string())
        });
        let hosts = if jobs.iter().any(|j| j.state == JobState::Queued) {
            cluster.view().await?.hosts
        } else {
            Vec::new()
        };
        let items: Vec<JobView> =
            jobs.iter().map(|j| j.view(stockade_cluster::Member::why_waiting(j, &hosts))).collect();
        let page = serde_json::json!({"items": items, "next": next.flatten(), "total": total});
        return Ok(Json(page).into_response());
    }
    // One row more than the page tells whether there is a next page.
    let filter =
        JobFilter { states, template: query.template, pool: query.pool, limit: Some(limit + 1) };
    // The newest `limit + 1` stored rows below the cursor hold at most that
    // many live jobs, all among the engine's newest that many below it.
    let live: HashMap<JobId, JobView> = state
        .engine
        .job_page(filter.clone(), before)
        .await?
        .jobs
        .into_iter()
        .map(|v| (v.id, v))
        .collect();
    // The store read, the merge and the encoding of up to MAX_LIMIT views
    // (milliseconds of CPU for a big page) on the blocking pool.
    let spec = state.spec();
    let body = super::read::store(&state.store, move |s| {
        let (mut records, total) = s.job_page(&filter, before)?;
        let next = (records.len() > limit).then(|| {
            records.truncate(limit);
            records.last().map(|r| r.id.0.to_string())
        });
        let items: Vec<JobView> = records
            .iter()
            .map(|r| live.get(&r.id).cloned().unwrap_or_else(|| job_view_from_record(r)))
            .collect();
        let mut items = serde_json::to_value(items).unwrap_or_default();
        super::isolation::mark(&spec, &mut items);
        let page = serde_json::json!({"items": items, "next": next.flatten(), "total": total});
        Ok(serde_json::to_vec(&page).unwrap_or_default())
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `?limit=`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub fn page_limit(limit: Option<usize>) -> Result<usize, Failure> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("limit {n} is out of range"),
            format!("limit is 1 to {MAX_LIMIT}; page further with ?cursor= (the `next` of a page)"),
        )),
    }
}

/// `?cursor=`: the `next` of a previous page, a decimal number.
pub fn cursor(raw: &str) -> Result<u64, Failure> {
    raw.parse::<u64>().ok().filter(|c| i64::try_from(*c).is_ok()).ok_or_else(|| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_cursor",
            format!("`{raw}` is not a cursor this endpoint gave out"),
            "pass the `next` of the previous page unchanged, or drop ?cursor= to start over",
        )
    })
}

/// `GET /api/jobs/{id}`: state, cause, and every run so far.
pub async fn get(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, Failure> {
    let id = JobId(path_id(&id?.0, "job")?);
    if let Some(cluster) = &state.cluster {
        let job = cluster.reader().job(id.0).await.map_err(crate::cluster::failure)?;
        let hosts =
            if job.state == JobState::Queued { cluster.view().await?.hosts } else { Vec::new() };
        let mut view = job.view(stockade_cluster::Member::why_waiting(&job, &hosts));
        // Ran here: the local runs, with pids and causes.
        if job.host.as_deref() == Some(cluster.standing().0.as_str())
            && let Some(local) = job.local_id
        {
            let local = JobId(local);
            if let Ok(live) = state.engine.job(local).await {
                view.pid = live.pid;
                view.usage = live.usage;
            }
            view.runs = run_views(&state, local).await?;
        }
        return Ok(Json(serde_json::to_value(view).unwrap_or_default()));
    }
    let mut view = match state.engine.job(id).await {
        Ok(view) => view,
        Err(EngineError::UnknownJob { .. }) => {
            match super::read::store(&state.store, move |s| s.job(id)).await? {
                Some(record) => job_view_from_record(&record),
                None => return Err(EngineError::UnknownJob { id }.into()),
            }
        }
        Err(err) => return Err(err.into()),
    };
    view.runs = run_views(&state, id).await?;
    let mut value = serde_json::to_value(view).unwrap_or_default();
    super::isolation::mark(&state.spec(), &mut value);
    Ok(Json(value))
}

/// Every run of local job `id`, oldest first.
async fn run_views(state: &AppState, id: JobId) -> Result<Vec<RunView>, Failure> {
    Ok(super::read::store(&state.store, move |s| s.runs_of_job(id))
        .await?
        .into_iter()
        .map(|r| RunView {
            id: r.id,
            attempt: r.attempt,
            pid: r.pid,
            started_at: r.started_at,
            ended_at: r.ended_at,
            cause: r.cause,
        })
        .collect())
}

/// `DELETE /api/jobs/{id}`: cancel. 200 with the final view once the job
/// has ended (a queued job ends at once); 202 with the view while its run is
/// being stopped, `Location` of the job to poll, and a `Link` to the event
/// stream that reports its end (`/api/events?job=ID&type=job_state`). 409
/// if it had already finished.
pub async fn cancel(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, Failure> {
    let id = JobId(path_id(&id?.0, "job")?);
    if let Some(cluster) = &state.cluster {
        let view = cluster.reader().cancel(id.0).await.map_err(crate::cluster::failure)?.view(None);
        let status = if view.state.is_terminal() { StatusCode::OK } else { StatusCode::ACCEPTED };
        return Ok(
            (status, [(header::LOCATION, format!("/api/jobs/{id}"))], Json(view)).into_response()
        );
    }
    match state.engine.cancel(id).await {
        Ok(view) if view.state.is_terminal() => Ok((StatusCode::OK, Json(view)).into_response()),
        Ok(view) => {
            let headers = [
                (header::LOCATION, format!("/api/jobs/{id}")),
                (header::LINK, format!("</api/events?job={id}&type=job_state>; rel=\"monitor\"")),
            ];
            Ok((StatusCode::ACCEPTED, headers, Json(view)).into_response())
        }
        Err(EngineError::UnknownJob { .. }) => {
            match super::read::store(&state.store, move |s| s.job(id)).await? {
                Some(record) => {
                    Err(EngineError::AlreadyFinished { id, state: record.state }.into())
                }
                None => Err(EngineError::UnknownJob { id }.into()),
            }
        }
        Err(err) => Err(err.into()),
    }
}
