//! `/health/live` and `/health/ready`.

use super::{AppState, Failure};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `{"status":"ok"}` while the engine loop answers.
pub async fn live(State(state): State<AppState>) -> Result<Json<serde_json::Value>, Failure> {
    state.engine.queue().await?;
    Ok(Json(json!({"status": "ok"})))
}

/// 200 when every service with a readiness probe is ready, else 503 with the laggards.
pub async fn ready(State(state): State<AppState>) -> Result<Response, Failure> {
    let laggards = state.engine.laggards().await?;
    if laggards.is_empty() {
        return Ok(Json(json!({"status": "ready"})).into_response());
    }
    let body = json!({"status": "not_ready", "laggards": laggards});
    Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response())
}
