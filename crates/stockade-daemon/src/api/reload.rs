//! `POST /api/daemon/reload[?dry_run=true]` (`stockade reload [--plan]`):
//! re-read the spec file, plan, and (unless a dry run) apply. Answers the
//! plan; an invalid spec is a 422 `invalid_spec` naming each problem's
//! line and column, and nothing changes.

use super::{AppState, Failure};
use crate::reload::ReloadError;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use stockade_proto::ReloadPlan;

/// Query of `POST /api/daemon/reload`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadQuery {
    /// Only plan; change nothing.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/daemon/reload`.
pub async fn reload(
    State(state): State<AppState>,
    query: Result<Query<ReloadQuery>, QueryRejection>,
) -> Result<Json<ReloadPlan>, Failure> {
    // A bad query is a JSON 400 like every other error, not axum's text.
    let Query(query) = query?;
    match state.reloader.reload(&state.engine, query.dry_run).await {
        Ok(plan) => Ok(Json(plan)),
        Err(ReloadError::Engine(e)) => Err(e.into()),
        Err(e @ ReloadError::Invalid(_)) => Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_spec",
            e.to_string(),
            "fix the spec (`stockade check` shows every problem) and reload again; nothing was changed",
        )),
        Err(e @ ReloadError::Read { .. }) => Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "spec_unreadable",
            e.to_string(),
            "restore the spec file the daemon was started with, then reload; nothing was changed",
        )),
    }
}
