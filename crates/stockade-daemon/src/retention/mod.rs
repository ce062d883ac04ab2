//! Retention: what ended runs leave behind is kept for a while, then
//! removed. One task ([`Retention`]) sweeps three things, once at daemon
//! start (after recovery, so the engine knows what is live), then every
//! ten minutes, and at once after a reload that changed one of its
//! settings — it reads them from the running spec each time, so a reload
//! applies them live:
//!
//! - `logs`: log files, by `[logs] max_age` and `max_size` (`runs` says
//!   which owners are live, from the engine and the store);
//! - post-mortems in the store, by `[logs] postmortem_retention`
//!   ([`Store::prune_postmortems`], one transaction);
//! - `workspaces`: walled runs' workspaces and exit records, by
//!   `[daemon] workspace_retention`.
//!
//! What a sweep removed (counts, bytes) is logged and recorded as a daemon
//! event (`stockade events`). Stopping the task waits for a sweep's store
//! work, never for a workspace tree still being deleted.

mod logs;
mod runs;
#[cfg(test)]
mod tests;
mod workspaces;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use stockade_engine::EngineHandle;
use stockade_linux::human_bytes;
use stockade_proto::{EventKind, now_millis};
use stockade_sandbox::Sandbox;
use stockade_spec::{LogsConfig, Spec};
use stockade_store::Store;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::reload::Loaded;

/// How often the sweep runs after the one at start.
const EVERY: Duration = Duration::from_secs(600);

/// What the sweeping task works on.
pub(crate) struct Site {
    /// `<state_dir>/logs`.
    pub(crate) logs: PathBuf,
    /// `<state_dir>/workspaces`.
    pub(crate) workspaces: PathBuf,
    /// Post-mortems, and who is live.
    pub(crate) store: Store,
    /// Which replicas are live; where the event goes.
    pub(crate) engine: EngineHandle,
    /// Which boxes are live.
    pub(crate) sandbox: Sandbox,
    /// The running spec, for the settings.
    pub(crate) specs: watch::Receiver<Loaded>,
}

/// The settings one sweep uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    logs: LogsConfig,
    workspace_retention: Duration,
}

impl Settings {
    fn of(spec: &Spec) -> Settings {
        Settings { logs: spec.logs, workspace_retention: spec.daemon.workspace_retention }
    }
}

/// The sweeping task; [`Retention::stop`] ends it (dropping it aborts it).
pub(crate) struct Retention {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Retention {
    /// Sweep now, then every ten minutes and after each reload that changes
    /// a retention setting.
    pub(crate) fn start(site: Site) -> Retention {
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(site, stop.clone()));
        Retention { stop, task: Some(task) }
    }

    /// End the task after the store work of a sweep under way, so no store
    /// handle outlives the daemon's.
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Retention {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn run(mut site: Site, stop: CancellationToken) {
    let mut watching = true;
    loop {
        let settings = Settings::of(&site.specs.borrow_and_update().spec);
        let Some(swept) = sweep(&site, settings, &stop).await else { return };
        swept.report(&site.engine).await;
        let next = tokio::time::Instant::now() + EVERY;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(next) => break,
                changed = site.specs.changed(), if watching => match changed {
                    Ok(()) if Settings::of(&site.specs.borrow().spec) != settings => break,
                    Ok(()) => {}
                    Err(_) => watching = false,
                },
            }
        }
    }
}

/// What one sweep removed; `None` in a part that could not run.
#[derive(Debug, Default)]
struct Swept {
    logs: Option<logs::Swept>,
    /// Post-mortems deleted, and their bytes.
    postmortems: Option<(u64, u64)>,
    workspaces: Option<workspaces::Swept>,
}

/// One sweep; `None` if asked to stop meanwhile.
async fn sweep(site: &Site, settings: Settings, stop: &CancellationToken) -> Option<Swept> {
    let now = SystemTime::now();
    let mut swept = Swept::default();
    let dir = site.logs.clone();
    let files = tokio::task::spawn_blocking(move || logs::scan(&dir)).await.ok()?;
    // Who is live is asked after the scan: see `runs`.
    let status = site.engine.status().await.ok()?;
    let (store, replicas) = (site.store.clone(), runs::live_replicas(&status));
    let policy = logs::Policy { max_age: settings.logs.max_age, max_size: settings.logs.max_size };
    let logs = tokio::task::spawn_blocking(move || {
        runs::StoreRuns::read(store, replicas).map(|runs| logs::sweep(files, policy, now, &runs))
    })
    .await
    .ok()?;
    match logs {
        Ok(logs) => swept.logs = Some(logs),
        // Without knowing who is live, nothing is deleted.
        Err(err) => tracing::warn!(%err, "log retention skipped: cannot read the store"),
    }
    if stop.is_cancelled() {
        return None;
    }
    let keep = u64::try_from(settings.logs.postmortem_retention.as_millis()).unwrap_or(u64::MAX);
    match site.store.prune_postmortems(now_millis().saturating_sub(keep)).await {
        Ok(pruned) => swept.postmortems = Some(pruned),
        Err(err) => {
            tracing::warn!(%err, "post-mortem retention failed; the next sweep tries again")
        }
    }
    let (dir, sandbox) = (site.workspaces.clone(), site.sandbox.clone());
    let keep = settings.workspace_retention;
    let boxes = tokio::task::spawn_blocking(move || workspaces::sweep_boxes(&dir, keep, &sandbox));
    tokio::select! {
        // A big tree may take long to delete: it goes on without the task.
        () = stop.cancelled() => return None,
        boxes = boxes => swept.workspaces = boxes.ok(),
    }
    Some(swept)
}

impl Swept {
    /// Log what was removed and record it as one daemon event.
    async fn report(&self, engine: &EngineHandle) {
        if let Some(logs) = &self.logs {
            for failure in &logs.failed {
                tracing::warn!("log retention: {failure}");
            }
            if let Some(over) = logs.over {
                tracing::warn!(
                    over_bytes = over,
                    kept_bytes = logs.kept_bytes,
                    "the logs of live runs alone exceed [logs] max_size; nothing more can go (raise max_size or lower [daemon] log_max_size / log_keep)"
                );
            }
        }
        if let Some(ws) = &self.workspaces {
            for failure in &ws.failed {
                tracing::warn!("workspace retention: {failure}");
            }
        }
        let Some(message) = self.message() else { return };
        let logs = self.logs.as_ref();
        tracing::info!(
            log_files = logs.map_or(0, logs::Swept::removed),
            log_bytes = logs.map_or(0, |l| l.bytes),
            log_bytes_kept = logs.map_or(0, |l| l.kept_bytes),
            postmortems = self.postmortems.map_or(0, |p| p.0),
            postmortem_bytes = self.postmortems.map_or(0, |p| p.1),
            workspaces = ?self.workspaces.as_ref().map(|w| &w.removed),
            "{message}"
        );
        if let Err(err) = engine.record("", EventKind::Daemon { message }).await {
            tracing::debug!(%err, "the retention event was not recorded (the engine is stopping)");
        }
    }

    /// `retention removed 3 log files (1.2 MiB: 2 past max_age, 1 over
    /// max_size), 4 post-mortems (12 KiB), 1 workspace`; `None`: nothing.
    fn message(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(logs) = self.logs.as_ref().filter(|l| l.removed() > 0) {
            let mut why = Vec::new();
            if logs.by_age > 0 {
                why.push(format!("{} past max_age", logs.by_age));
            }
            if logs.by_size > 0 {
                why.push(format!("{} over max_size", logs.by_size));
            }
            parts.push(format!(
                "{} ({}: {})",
                plural(logs.removed(), "log file"),
                human_bytes(logs.bytes),
                why.join(", ")
            ));
        }
        if let Some((n, bytes)) = self.postmortems.filter(|p| p.0 > 0) {
            parts.push(format!("{} ({})", plural(n, "post-mortem"), human_bytes(bytes)));
        }
        if let Some(ws) = self.workspaces.as_ref().filter(|w| !w.removed.is_empty()) {
            parts.push(plural(ws.removed.len() as u64, "workspace"));
        }
        (!parts.is_empty()).then(|| format!("retention removed {}", parts.join(", ")))
    }
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}
