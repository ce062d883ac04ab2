//! `/api/postmortems`: by run id, or the latest of a job or a service.

use super::{AppState, Failure};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use stockade_engine::EngineError;
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
    /// With `unit`, one replica of that service (`stockade postmortem worker[3]`).
    replica: Option<u32>,
}

/// `GET /api/postmortems?job=ID`, `?unit=NAME` or `?unit=NAME&replica=N`:
/// the latest one. A replica the service does not have is a 400 naming the
/// ones it has.
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
        (None, Some(unit)) if let Some(replica) = query.replica => {
            known_replica(&state, unit, replica).await?;
            let unit = unit.clone();
            let found =
                move |s: &stockade_store::Store| s.last_postmortem_of_replica(&unit, replica);
            super::read::store(&state.store, found).await?
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
    let what = match (query.job, query.unit, query.replica) {
        (Some(job), _, _) => format!("job {job}"),
        (None, unit, Some(r)) => format!("`{}[{r}]`", unit.unwrap_or_default()),
        (None, unit, None) => format!("`{}`", unit.unwrap_or_default()),
    };
    found.map(Json).ok_or_else(|| missing(what))
}

/// Refuse a replica `service` does not have now, as `stockade stop name[N]`
/// does: naming the ones it has.
async fn known_replica(state: &AppState, service: &str, replica: u32) -> Result<(), Failure> {
    let status = state.engine.status().await?;
    let count = status.services.iter().filter(|r| r.service == service).count() as u32;
    if count == 0 {
        let mut known: Vec<String> = status.services.iter().map(|r| r.service.clone()).collect();
        known.dedup();
        return Err(EngineError::UnknownService { name: service.to_owned(), known }.into());
    }
    if replica >= count {
        let last = count - 1;
        let message = format!(
            "service `{service}` has {count} replica(s), {service}[0] to {service}[{last}]; there is no {service}[{replica}]"
        );
        return Err(EngineError::BadRequest { message }.into());
    }
    Ok(())
}

fn missing(what: String) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "no_postmortem",
        format!("no post-mortem for {what}"),
        "post-mortems are kept for abnormal ends only; a clean exit or an asked-for stop has none",
    )
}
