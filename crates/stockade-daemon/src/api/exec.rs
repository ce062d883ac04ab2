//! `POST /api/exec`: run a command in a running box. Mirrors
//! `stockade exec`; the protocol is described in `crate::exec`.
//!
//! The handler resolves the target to the run's main pid through the
//! engine's views, builds the command's environment exactly as the agent's
//! (`ServiceSpec::box_environment` / `JobSpec::box_environment`), starts the command through the
//! daemon's [`crate::exec::BoxExec`], and answers 101 — the session then
//! runs on its own task.

use super::{AppState, Failure, MAX_BODY};
use crate::exec::{self, ExecSpec};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use stockade_engine::EngineError;
use stockade_proto::{EXEC_UPGRADE, ExecRequest, ExecTarget, TermSize};

/// The terminal size when a tty request gives none.
const DEFAULT_SIZE: TermSize = TermSize { rows: 24, cols: 80 };

/// `POST /api/exec`.
pub async fn exec(State(state): State<AppState>, mut req: Request) -> Result<Response, Failure> {
    let wants_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(EXEC_UPGRADE));
    if !wants_upgrade {
        return Err(Failure::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            format!(
                "exec streams over an upgraded connection; send `Connection: upgrade` and `Upgrade: {EXEC_UPGRADE}`"
            ),
            "use `stockade exec NAME -- CMD`",
        ));
    }
    let upgrade = hyper::upgrade::on(&mut req);
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            e.to_string(),
            "send the whole body again",
        )
    })?;
    let request: ExecRequest = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            format!("the exec request does not fit: {e}"),
            "fields: service (string) with replica (integer), or job (integer); argv (array of strings); tty (bool); size {rows, cols}",
        )
    })?;
    let bad = |message: &str| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            message,
            "e.g. {\"service\": \"web\", \"argv\": [\"sh\"]}",
        )
    };
    if request.argv.first().is_none_or(|p| p.is_empty()) {
        return Err(bad("argv is empty: give the command to run"));
    }
    let target = request.target().map_err(bad)?;
    let unit = resolve(&state, &target).await?;
    let spec = ExecSpec {
        pid: unit.pid,
        argv: request.argv,
        env: unit.env,
        cwd: None,
        tty: request.tty.then(|| request.size.unwrap_or(DEFAULT_SIZE)),
    };
    let child = state.exec.exec(spec).await;
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => exec::serve(TokioIo::new(upgraded), child).await,
            Err(err) => {
                tracing::warn!(%err, "exec connection was not upgraded; killing the command");
                if let Ok(child) = child {
                    let _ = child.control.kill();
                }
            }
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static(EXEC_UPGRADE));
    Ok(response)
}

/// A running box: its main pid and the environment its agent got.
struct Unit {
    pid: u32,
    env: Vec<(String, String)>,
}

async fn resolve(state: &AppState, target: &ExecTarget) -> Result<Unit, Failure> {
    let not_running = |what: String| {
        Failure::new(
            StatusCode::CONFLICT,
            "not_running",
            format!("{what} is not running, so it has no box to enter"),
            "see `stockade ps`; exec enters only a live run",
        )
    };
    let running = state.spec();
    match target {
        ExecTarget::Service { service, replica } => {
            let Some(spec) = running.service(service) else {
                let known = running.services.iter().map(|s| s.name.clone()).collect();
                return Err(EngineError::UnknownService { name: service.clone(), known }.into());
            };
            let status = state.engine.status().await?;
            let view =
                status.services.iter().find(|r| &r.service == service && r.replica == *replica);
            let Some(view) = view else {
                return Err(Failure::new(
                    StatusCode::NOT_FOUND,
                    "unknown_replica",
                    format!("service `{service}` has no replica {replica}"),
                    format!("replicas are 0 to {}", spec.replicas.saturating_sub(1)),
                ));
            };
            let pid =
                view.pid.ok_or_else(|| not_running(format!("{service} replica {replica}")))?;
            Ok(Unit { pid, env: spec.box_environment(*replica, std::env::vars()) })
        }
        ExecTarget::Job { job } => {
            let view = state.engine.job(*job).await?;
            let pid = view.pid.ok_or_else(|| not_running(format!("job {}", job.0)))?;
            let Some(spec) = running.job(&view.template) else {
                let known = running.jobs.keys().cloned().collect();
                return Err(
                    EngineError::UnknownTemplate { name: view.template.clone(), known }.into()
                );
            };
            let id = *job;
            let record = super::read::store(&state.store, move |s| s.job(id)).await?;
            let submitted = record.map(|r| r.env).unwrap_or_default();
            let env = spec.box_environment(job.0, view.attempt, &submitted, std::env::vars());
            Ok(Unit { pid, env })
        }
    }
}
