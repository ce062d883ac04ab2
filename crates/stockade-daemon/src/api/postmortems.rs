//! `/api/postmortems`: by run id, or the latest of a job or a service.

use super::{AppState, Failure};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use stockade_proto::{JobId, PostMortem, RunId};

/// `GET /api/postmortems/{run}`.
pub async fn get(
    State(state): State<AppState>,
    run: Result<Path<String>, PathRejection>,
) -> Result<Json<PostMortem>, Failure> {
    let run = RunId(super::error::path_id(&run?.0, "run")?);
    super::read::store(&state.store, move |s| s.postmortem(run))
        .await?
        .map(Json)
        .ok_or_else(|| missing(format!("run {run}")))
}

/// Query of `GET /api/postmortems`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Find {
    job: Option<u64>,
    unit: Option<String>,
}

/// `GET /api/postmortems?job=ID` or `?unit=NAME`: the latest one.
pub async fn find(
    State(state): State<AppState>,
    query: Result<Query<Find>, QueryRejection>,
) -> Result<Json<PostMortem>, Failure> {
    let Query(query) = query?;
    let found = match (query.job, &query.unit) {
        (Some(job), _) if i64::try_from(job).is_err() => None,
        (Some(job), _) => {
            super::read::store(&state.store, move |s| s.last_postmortem_of_job(JobId(job))).await?
        }
        (None, Some(unit)) => {
            let unit = unit.clone();
            super::read::store(&state.store, move |s| s.last_postmortem_of_unit(&unit)).await?
        }
        (None, None) => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                "say which post-mortem: ?job=ID or ?unit=NAME",
                "or ask for a run: /api/postmortems/{run}",
            ));
        }
    };
    let what = match (query.job, query.unit) {
        (Some(job), _) => format!("job {job}"),
        (None, unit) => format!("`{}`", unit.unwrap_or_default()),
    };
    found.map(Json).ok_or_else(|| missing(what))
}

fn missing(what: String) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "no_postmortem",
        format!("no post-mortem for {what}"),
        "post-mortems are kept for abnormal ends only; a clean exit or an asked-for stop has none",
    )
}
