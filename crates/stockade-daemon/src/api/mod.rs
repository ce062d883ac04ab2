//! The HTTP API (DESIGN.md §6): one file per resource, each handler a thin
//! shell around an [`EngineHandle`] call or a store read.
//!
//! Errors are always `{"code","message","hint"}` with a fitting status
//! ([`Failure`]); a malformed, mistyped or oversized body is answered the
//! same way, never with axum's plain-text rejections.

mod cluster;
mod daemon;
mod error;
mod events;
pub use events::TYPES as EVENT_TYPES;
mod exec;
mod health;
mod isolation;
mod jobs;
pub(crate) mod logs;
pub mod openapi;
mod postmortems;
mod read;
mod reload;
mod services;
mod status;

pub use error::Failure;
pub use read::store as read_store;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::sync::Arc;
use stockade_engine::EngineHandle;
use stockade_spec::Spec;
use stockade_store::Store;

/// The largest request body accepted (a batch of a few thousand jobs).
pub const MAX_BODY: usize = 2 << 20;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// This daemon's cluster membership (`[cluster]`): jobs are the
    /// cluster's, read and written in the shared queue.
    pub cluster: Option<crate::cluster::Cluster>,
    /// The engine.
    pub engine: EngineHandle,
    /// The store, for reads of finished things.
    pub store: Store,
    /// The spec the daemon runs, and reloads of it.
    pub reloader: Arc<crate::reload::Reloader>,
    /// Runs `stockade exec` commands inside boxes.
    pub exec: Arc<dyn crate::exec::BoxExec>,
    /// Asks the daemon to stop (`POST /api/daemon/*`).
    pub stopper: crate::stop::Stopper,
    /// Whether an upgrade keeps the agents (`stockade daemon`; not `up`,
    /// whose agents die with its threads).
    pub upgradable: bool,
    /// Cancelled when the daemon stops serving: open follow streams end
    /// with an event saying so.
    pub stopping: tokio_util::sync::CancellationToken,
    /// The alerts firing now (rules and the leak detector), for status and metrics.
    pub alerts: crate::monitor::AlertBoard,
    /// The most memory one run could ever get: the host's total memory less
    /// `reserve_memory`, read once at start (`None`: unknown). A job whose
    /// limit is above it is refused at submission.
    pub memory_ceiling: Option<u64>,
}

impl AppState {
    /// The spec the daemon runs now (it changes at a reload).
    pub fn spec(&self) -> Arc<Spec> {
        self.reloader.spec()
    }
}

/// Every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/api/status", get(status::status))
        .route("/api/queue/status", get(status::queue))
        .route("/api/schedules", get(status::schedules))
        .route("/api/jobs", post(jobs::submit).get(jobs::list))
        .route("/api/jobs/{id}", get(jobs::get).delete(jobs::cancel))
        .route("/api/jobs/{id}/logs", get(logs::job))
        .route("/api/services", get(services::list))
        .route("/api/services/{name}/logs", get(logs::service))
        .route("/api/services/{name}/scale", post(services::scale))
        .route("/api/services/{name}/{action}", post(services::control))
        .route("/api/events", get(events::stream))
        .route("/api/exec", post(exec::exec))
        .route("/api/postmortems", get(postmortems::find))
        .route("/api/postmortems/{run}", get(postmortems::get))
        .route("/api/daemon/shutdown", post(daemon::shutdown))
        .route("/api/daemon/upgrade", post(daemon::upgrade))
        .route("/api/daemon/reload", post(reload::reload))
        .route("/api/cluster", get(cluster::view))
        .route("/api/cluster/drain", post(cluster::drain))
        .route("/metrics", get(crate::metrics::scrape))
        .route("/api/openapi.json", get(openapi::serve))
        // `lifecycle` adds `POST /api/daemon/shutdown` here.
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
