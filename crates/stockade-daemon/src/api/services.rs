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
/// service, with usage, in spec order (the cursor is a position in it).
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, Failure> {
    let Query(query) = query?;
    let limit = super::jobs::page_limit(query.limit)?;
    let from = query.cursor.as_deref().map(super::jobs::cursor).transpose()?.unwrap_or(0);
    let services = state.engine.status().await?.services;
    let total = services.len();
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(total);
    let end = from.saturating_add(limit).min(total);
    let next = (end < total).then(|| end.to_string());
    let mut items = serde_json::to_value(&services[from..end]).unwrap_or_default();
    super::isolation::mark(&state.spec(), &mut items);
    Ok(Json(json!({"items": items, "next": next, "total": total})))
}

/// `POST /api/services/{name}/{start|stop|restart}`.
pub async fn control(
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
) -> Result<Json<Vec<ReplicaView>>, Failure> {
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
    Ok(Json(state.engine.service(&name, action).await?))
}
