//! [`Reloader`]: the spec the daemon runs, against its file on disk, and the
//! one way to change it — `POST /api/daemon/reload` and SIGHUP both call
//! [`Reloader::reload`]: read the file the daemon was started with,
//! validate it fully (an invalid spec changes nothing and the error names
//! line and column), hand it to the engine, which plans and applies
//! (`stockade_engine` `reload.rs`), and on success run the new spec.
//!
//! Reloads are serialized (one at a time, in order). The loaded spec is in a
//! `watch` channel: handlers read the current one, the reload writes it.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use stockade_engine::{EngineError, EngineHandle};
use stockade_proto::{ReloadPlan, SpecFileView, UnixMillis, now_millis};
use stockade_spec::{Spec, SpecError};
use tokio::sync::{Mutex, watch};

/// The spec the daemon runs and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The running spec.
    pub spec: Arc<Spec>,
    /// SHA-256 of the file's bytes it was read from.
    pub hash: String,
    /// When it was loaded.
    pub at: UnixMillis,
    /// Reloads applied since the daemon started.
    pub reloads: u32,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file cannot be read.
    #[error("cannot read the spec file {path}: {source}")]
    Read {
        /// The spec file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The new spec is invalid (each problem with its line and column).
    #[error("{0}")]
    Invalid(SpecError),
    /// The engine refused it or is stopping.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Holds the running spec and carries out reloads.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    loaded: watch::Sender<Loaded>,
    /// One reload at a time: read, plan, apply, publish.
    serial: Mutex<()>,
}

impl Reloader {
    /// The daemon runs `spec`, read from `spec.path` (hashed now).
    pub fn new(spec: Arc<Spec>) -> Reloader {
        let path = spec.path.clone();
        let hash = hash_file(&path).unwrap_or_default();
        let loaded = Loaded { spec, hash, at: now_millis(), reloads: 0 };
        Reloader { path, loaded: watch::Sender::new(loaded), serial: Mutex::new(()) }
    }

    /// The running spec.
    pub fn spec(&self) -> Arc<Spec> {
        self.loaded.borrow().spec.clone()
    }

    /// The running spec from now on: the receiver sees each reload.
    pub fn subscribe(&self) -> watch::Receiver<Loaded> {
        self.loaded.subscribe()
    }

    /// The running spec against the file on disk now, for `/api/status`.
    pub async fn file_view(&self) -> SpecFileView {
        let loaded = self.loaded.borrow().clone();
        let path = self.path.clone();
        let disk = tokio::task::spawn_blocking(move || hash_file(&path).ok()).await.ok().flatten();
        SpecFileView {
            changed_on_disk: disk.as_ref().is_some_and(|d| *d != loaded.hash),
            loaded_hash: loaded.hash,
            disk_hash: disk,
            loaded_at: loaded.at,
            reloads: loaded.reloads,
        }
    }

    /// Re-read the spec file and plan the move to it; unless `dry_run`,
    /// carry it out and run the new spec from then on.
    pub async fn reload(
        &self,
        engine: &EngineHandle,
        dry_run: bool,
    ) -> Result<ReloadPlan, ReloadError> {
        let _one = self.serial.lock().await;
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || read_spec(&path)).await;
        let (spec, hash) = match read {
            Ok(result) => result?,
            Err(join) => {
                return Err(ReloadError::Read {
                    path: self.path.clone(),
                    source: std::io::Error::other(join.to_string()),
                });
            }
        };
        let spec = Arc::new(spec);
        let plan = engine.reload(spec.clone(), dry_run).await?;
        // An empty plan still means the file is what runs (comments, order).
        if !dry_run {
            self.loaded.send_modify(|loaded| {
                loaded.spec = spec;
                loaded.hash = hash;
                loaded.at = now_millis();
                loaded.reloads += u32::from(plan.applied);
            });
        }
        Ok(plan)
    }
}

/// Read and validate the spec at `path`; its hash too (of the same bytes).
fn read_spec(path: &Path) -> Result<(Spec, String), ReloadError> {
    let bytes = std::fs::read(path)
        .map_err(|source| ReloadError::Read { path: path.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&bytes);
    let spec =
        Spec::parse(&text, path, &|name| std::env::var(name).ok()).map_err(ReloadError::Invalid)?;
    Ok((spec, hex(&Sha256::digest(&bytes))))
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    Ok(hex(&Sha256::digest(std::fs::read(path)?)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Follow SIGHUP-style reload requests until the channel closes: each one
/// reloads and logs the plan (or why nothing changed).
pub async fn follow(
    reloader: Arc<Reloader>,
    engine: EngineHandle,
    mut requests: tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    while requests.recv().await.is_some() {
        match reloader.reload(&engine, false).await {
            Ok(plan) => {
                let alerts =
                    plan.alerts.iter().map(|a| format!("{} alert {}", a.action.word(), a.name));
                let changed: Vec<String> = plan
                    .units
                    .iter()
                    .filter(|u| u.action != stockade_proto::PlanAction::Keep)
                    .map(|u| format!("{} {}", u.action.word(), u.name))
                    .chain(alerts)
                    .collect();
                tracing::info!(spec = %plan.spec, changed = ?changed, "SIGHUP: reloaded: {}", plan.summary());
            }
            Err(err) => tracing::error!("SIGHUP: reload refused, nothing changed: {err}"),
        }
    }
}
