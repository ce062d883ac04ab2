//! `/api/services`: list, and start/stop/restart. Mirrors
//! `Command::Service` and `stockade start | stop | restart`.

use super::{AppState, Failure};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use stockade_engine::ServiceAction;
use stockade_proto::ReplicaView;

/// Every replica of every service, with usage.
pub async fn list(State(state): State<AppState>) -> Result<Json<serde_json::Value>, Failure> {
    let mut value = serde_json::to_value(state.engine.status().await?.services).unwrap_or_default();
    super::isolation::mark(&state.spec, &mut value);
    Ok(Json(value))
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
