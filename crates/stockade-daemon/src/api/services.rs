//! `/api/services`: list, and start/stop/restart. Mirrors
//! `Command::Service` and `stockade start | stop | restart`.

use super::{AppState, Failure};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use stockade_engine::ServiceAction;
use stockade_proto::ReplicaView;

/// Query of `GET /api/services`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/services`: a [`stockade_proto::Page`] of every replica of every
/// service, with usage, in spec order (the cursor is a position in it), and
/// `scaled`: the services a `stockade scale` runs at another count.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, Failure> {
    let Query(query) = query?;
    let limit = super::jobs::page_limit(query.limit)?;
    let from = query.cursor.as_deref().map(super::jobs::cursor).transpose()?.unwrap_or(0);
    let status = state.engine.status().await?;
    let (services, scaled) = (status.services, status.scaled);
    let total = services.len();
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(total);
    let end = from.saturating_add(limit).min(total);
    let next = (end < total).then(|| end.to_string());
    let mut items = serde_json::to_value(&services[from..end]).unwrap_or_default();
    super::isolation::mark(&state.spec(), &mut items);
    Ok(Json(json!({"items": items, "next": next, "total": total, "scaled": scaled})))
}

/// Query of `POST /api/services/{name}/{action}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlQuery {
    /// Only this replica (`stockade stop name[3]`).
    replica: Option<u32>,
}

/// `POST /api/services/{name}/{start|stop|restart}[?replica=N]`: every
/// replica, or only replica N. A stop (of the service or of replica N) is
/// remembered across daemon restarts until it is started again. Answers the replicas
/// acted on.
pub async fn control(
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
    query: Result<Query<ControlQuery>, QueryRejection>,
) -> Result<Json<Vec<ReplicaView>>, Failure> {
    let Query(query) = query?;
    let action = match action.as_str() {
        "start" => ServiceAction::Start,
        "stop" => ServiceAction::Stop,
        "restart" => ServiceAction::Restart,
        other => {
            return Err(Failure::new(
                StatusCode::NOT_FOUND,
                "unknown_action",
                format!("no service action `{other}`"),
                "actions: start, stop, restart",
            ));
        }
    };
    Ok(Json(state.engine.service_replica(&name, query.replica, action).await?))
}

/// Body of `POST /api/services/{name}/scale`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleBody {
    /// How many replicas from now on (at least 1).
    replicas: u32,
}

/// `POST /api/services/{name}/scale` with `{"replicas": N}`: run N replicas
/// from now on (until the daemon restarts); answers every replica, the
/// retired ones while they stop.
pub async fn scale(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<ScaleBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Vec<ReplicaView>>, Failure> {
    let Json(body) = body.map_err(|e| {
        Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            format!("the scale request does not fit: {e}"),
            "send {\"replicas\": N} with N at least 1",
        )
    })?;
    Ok(Json(state.engine.scale(&name, body.replicas).await?))
}
