//! `POST /api/daemon/shutdown` and `POST /api/daemon/upgrade`: planned stops
//! from the CLI (`stockade down [--drain[=GRACE]]`, `stockade daemon
//! --upgrade`). Both answer 202 at once with the daemon's pid; the client
//! watches the pid (and, for an upgrade, `/health/live`) to see it done.

use super::{AppState, Failure};
use crate::stop::Stop;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// The longest drain grace accepted (a day).
const MAX_GRACE_SECS: f64 = 86_400.0;
/// A drain's grace when none is given.
pub const DEFAULT_DRAIN_SECS: f64 = 300.0;

/// Body of `POST /api/daemon/shutdown` (`{}` is a plain stop).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownRequest {
    /// Admit nothing new and let running jobs finish first.
    #[serde(default)]
    drain: bool,
    /// How long a drain waits for running jobs, in seconds (default 300).
    grace: Option<f64>,
}

/// `POST /api/daemon/shutdown`.
pub async fn shutdown(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let body = body?;
    let request: ShutdownRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ShutdownRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_request",
                format!("the shutdown request does not fit: {e}"),
                "fields: drain (bool), grace (seconds, number)",
            )
        })?
    };
    let grace = request.grace.unwrap_or(DEFAULT_DRAIN_SECS);
    if !(0.0..=MAX_GRACE_SECS).contains(&grace) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_grace",
            format!("a drain grace of {grace} s is out of range"),
            "give 0 to 86400 seconds",
        ));
    }
    let stop = if request.drain { Stop::Drain(Duration::from_secs_f64(grace)) } else { Stop::Now };
    state.stopper.stop(stop);
    let body = json!({
        "stopping": true,
        "drain": request.drain,
        "grace": if request.drain { Some(grace) } else { None },
        "pid": std::process::id(),
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// `POST /api/daemon/upgrade`: replace this daemon with the binary on disk.
pub async fn upgrade(State(state): State<AppState>) -> Result<Response, Failure> {
    if !state.upgradable {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            "not_upgradable",
            "this daemon runs under `stockade up`, whose agents die with it",
            "upgrade a `stockade daemon`; stop `up` with Ctrl-C and start it again",
        ));
    }
    state.stopper.stop(Stop::Upgrade);
    let body = json!({"upgrading": true, "pid": std::process::id()});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
