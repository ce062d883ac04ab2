//! `/health/live` and `/health/ready`.
//!
//! Live: the engine loop answers. Ready: the store can write
//! (`Store::health()`, one snapshot, no wait on the writer) and every service
//! with a readiness probe is ready. Not ready is a 503 whose body says why,
//! in the API's `{"code","message","hint"}` shape plus the details.

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

/// 200 when the store can write and every service with a readiness probe is
/// ready; else 503 naming the store's reason or the laggards.
pub async fn ready(State(state): State<AppState>) -> Result<Response, Failure> {
    let store = super::read::store(&state.store, |s| Ok(s.health())).await?;
    if !store.ready {
        let reason = store.reason.unwrap_or_else(|| "the store cannot write".into());
        let (message, hint) = match reason.split_once("; hint: ") {
            Some((message, hint)) => (message.to_owned(), hint.to_owned()),
            None => (reason, "free space on the state directory's filesystem (df -h); the store recovers by itself".to_owned()),
        };
        let body = json!({
            "status": "not_ready",
            "code": "store_not_writable",
            "message": message,
            "hint": hint,
            "store": {
                "refusing_submissions": store.refusing_submissions,
                "reserve_held": store.reserve_held,
                "free_bytes": store.free_bytes,
                "failing_since": store.failing_since,
                "failed_transactions": store.failed_transactions,
            },
        });
        return Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response());
    }
    let laggards = state.engine.laggards().await?;
    if laggards.is_empty() {
        return Ok(Json(json!({"status": "ready"})).into_response());
    }
    let body = json!({
        "status": "not_ready",
        "code": "not_ready",
        "message": format!("{} service(s) not ready yet", laggards.len()),
        "hint": "see `stockade status`; each laggard says why",
        "laggards": laggards,
    });
    Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response())
}
