//! The daemon as a library function: [`run`] wires the store, the sandbox,
//! the engine and the HTTP API, serves until `shutdown` resolves, then stops
//! every service in reverse dependency order and returns. [`run_with`] takes
//! a stream of [`Stop`]s instead (`stop.rs`): drain, force, upgrade.
//!
//! `stockade up` and `stockade daemon` both call [`run`]; tests call it
//! in-process with a tempdir state directory and their own cgroup parent.
//! Start reading at [`run`], then `api/mod.rs` for the routes.

#![deny(missing_docs)]

mod api;
pub mod cluster;
mod config;
mod conn;
mod door;
mod exec;
mod guard;
mod listen;
mod metrics;
mod monitor;
pub mod notify;
mod preflight;
mod reload;
mod retention;
mod sampler;
mod stop;

pub use api::EVENT_TYPES;
pub use config::Config;
pub use listen::ListenError;
pub use preflight::PreflightError;
pub use stop::{Stop, Stopped, Stopper, Stops, stop_channel};

use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use stockade_engine::{
    EngineConfig, EngineHandle, SandboxLauncher, ShutdownPlan, ShutdownReport, WallsSite,
};
use stockade_sandbox::Sandbox;
use stockade_store::{Store, StoreError, StoreOptions};

/// What the daemon hands to whoever runs it once it is serving.
#[derive(Debug, Clone)]
pub struct Running {
    /// Talks to the engine (for the live view of `stockade up`).
    pub engine: EngineHandle,
    /// The sockets and addresses it serves on.
    pub listening: Vec<String>,
    /// The box backend in use.
    pub sandbox: String,
    /// Warnings about the box backend.
    pub warnings: Vec<String>,
}

/// Run the daemon until `shutdown` resolves; `started` hears once it serves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()>,
    started: Option<tokio::sync::oneshot::Sender<Running>>,
) -> anyhow::Result<ShutdownReport> {
    let (stopper, stops) = stop_channel();
    let daemon = run_with(config, stops, started);
    tokio::pin!(daemon);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut asked = false;
    loop {
        tokio::select! {
            stopped = &mut daemon => return stopped.map(|s| s.report),
            () = &mut shutdown, if !asked => {
                asked = true;
                stopper.stop(Stop::Now);
            }
        }
    }
}

/// Run the daemon until a [`Stop`] arrives on `stops` (or a listener
/// fails); `started` hears once it serves. A [`Stop::Force`] while stopping
/// kills every box at once.
pub async fn run_with(
    config: Config,
    mut stops: Stops,
    started: Option<tokio::sync::oneshot::Sender<Running>>,
) -> anyhow::Result<Stopped> {
    // pidfd reaping silently falls back to SIGCHLD scanning when fds run out.
    if let Err(err) = stockade_sandbox::raise_nofile_limit() {
        tracing::warn!(%err, "could not raise RLIMIT_NOFILE; many agents may exhaust file descriptors");
    }
    // A daemon already on this state directory holds every port its agents
    // listen on: say that, before the preflight lists each port as taken.
    Store::check_unlocked(&config.spec.daemon.state_dir.join("stockade.db"))
        .map_err(explain_store_error)?;
    listen::check(&config.spec.daemon)?;
    let new_store = config.new_store;
    let spec = Arc::new(config.spec);
    preflight::check(&spec).await?;
    let daemon = &spec.daemon;
    let db = daemon.state_dir.join("stockade.db");
    let synchronous = match daemon.synchronous {
        stockade_spec::Synchronous::Full => stockade_store::Synchronous::Full,
        stockade_spec::Synchronous::Normal => stockade_store::Synchronous::Normal,
    };
    let options = StoreOptions {
        event_retention: daemon.event_retention,
        synchronous,
        new_store,
        ..StoreOptions::default()
    };
    let mut sandbox_config = config.sandbox;
    sandbox_config.id_range = daemon.id_range;
    // Opening the store (migrations, fsyncs) and making the cgroup parent
    // block on the disk and cgroupfs: on the blocking pool, so a daemon run
    // on a shared (or current-thread) runtime stalls nobody while it starts.
    let state_dir = daemon.state_dir.clone();
    let (store, sandbox) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        create_private_dir(&state_dir)?;
        let store = Store::open(&db, options).map_err(explain_store_error)?;
        let sandbox = Sandbox::new(sandbox_config).context("cannot set up the boxes")?;
        Ok((store, sandbox))
    })
    .await
    .context("the startup task failed")??;
    let kind = sandbox.kind().to_string();
    // `Sandbox::new` logged these already; they go on into status and doctor.
    let warnings = sandbox.warnings().to_vec();
    let host_root = config.host_root.clone();
    let (samples_tx, samples) = tokio::sync::mpsc::unbounded_channel();
    let reserve = stockade_host::Reserve {
        memory: daemon.reserve_memory,
        tasks: daemon.reserve_tasks,
        ..stockade_host::Reserve::default()
    };
    let latest = sampler::Latest::default();
    let (host_levels_tx, host_levels) = tokio::sync::watch::channel(None);
    let sampler = tokio::spawn(sampler::run(
        host_root.clone(),
        reserve,
        samples_tx,
        latest.clone(),
        host_levels_tx,
    ));
    let alerts = monitor::AlertBoard::new(&spec.alerts);
    // A member's engine fires no schedules of its own: the cluster's leader
    // fires each slot once cluster-wide.
    let engine_spec = match &spec.cluster {
        Some(_) => Arc::new(cluster::engine_spec(&spec)),
        None => spec.clone(),
    };
    let engine_config = EngineConfig {
        spec: engine_spec,
        store: store.clone(),
        launcher: Box::new(
            SandboxLauncher::new(sandbox.clone(), config.parent_death, config.host_root.clone())
                .with_site(WallsSite::in_state_dir(&daemon.state_dir)),
        ),
        sandbox: kind.clone(),
        sandbox_warnings: warnings.clone(),
        // The sampler's newest read: the engine's task never reads `/proc`
        // (only before the first sample, within the first second, does it).
        host_snapshot: Arc::new(move || {
            let newest = latest.lock().unwrap_or_else(|e| e.into_inner()).clone();
            newest.unwrap_or_else(|| stockade_host::HostFacts::read(&host_root).snapshot())
        }),
        host_samples: Some(samples),
    };
    // Recovery reads the store and may kill and remove leftover boxes
    // (seconds, in the worst case): on the blocking pool too. The engine's
    // task is spawned from there onto this runtime.
    let (engine, engine_task) =
        tokio::task::spawn_blocking(move || stockade_engine::start(engine_config))
            .await
            .context("the engine's startup task failed")??;
    let memory_ceiling = {
        let root = config.host_root.clone();
        let reserve = daemon.reserve_memory;
        tokio::task::spawn_blocking(move || {
            stockade_host::HostFacts::read(&root).snapshot().mem_total
        })
        .await
        .ok()
        .flatten()
        .map(|total| total.saturating_sub(reserve))
    };
    let reloader = Arc::new(reload::Reloader::new(spec.clone()));
    let retention = retention::Retention::start(retention::Site {
        logs: daemon.state_dir.join("logs"),
        workspaces: WallsSite::in_state_dir(&daemon.state_dir).workspaces,
        store: store.clone(),
        engine: engine.clone(),
        sandbox: sandbox.clone(),
        specs: reloader.subscribe(),
    });
    let running_spec = reloader.subscribe();
    let reloads = stops
        .take_reloads()
        .map(|requests| tokio::spawn(reload::follow(reloader.clone(), engine.clone(), requests)));
    let cluster = match &spec.cluster {
        Some(config) => {
            match cluster::Cluster::join(
                config,
                &daemon.state_dir,
                engine.clone(),
                store.clone(),
                reloader.clone(),
            )
            .await
            {
                Ok(cluster) => Some(cluster),
                Err(err) => {
                    // Stop what recovery adopted? No: a member that cannot
                    // join leaves its runs for the next start to take back.
                    let _ = engine
                        .shutdown_with(ShutdownPlan { leave_jobs: true, leave_services: false })
                        .await;
                    let _ = engine_task.await;
                    sampler.abort();
                    retention.stop().await;
                    return Err(err);
                }
            }
        }
        None => None,
    };
    let state = api::AppState {
        cluster: cluster.clone(),
        engine: engine.clone(),
        store: store.clone(),
        reloader,
        exec: Arc::new(exec::SandboxExec::new(sandbox.clone())),
        stopper: stops.stopper(),
        upgradable: config.parent_death == stockade_sandbox::ParentDeath::Survive,
        alerts: alerts.clone(),
        memory_ceiling,
        stopping: tokio_util::sync::CancellationToken::new(),
    };
    let mut servers = listen::serve(&spec.daemon, state).await?;
    let codes = spec.services.iter().map(|s| (s.name.clone(), s.exit_codes.clone())).collect();
    let monitor = monitor::Monitor::start(&engine, running_spec, host_levels, alerts, codes);
    let cluster_tasks = cluster.as_ref().map(|c| c.start()).unwrap_or_default();
    tracing::info!(listening = ?servers.addresses, sandbox = %kind, "stockade daemon serving");
    if let Some(started) = started {
        let _ = started.send(Running {
            engine: engine.clone(),
            listening: servers.addresses.clone(),
            sandbox: kind,
            warnings,
        });
    }
    notify::notify(&notify::ready_message());
    let mut stop = tokio::select! {
        stop = stops.next() => stop,
        _ = servers.failed() => {
            tracing::error!("an API listener failed; shutting down");
            Stop::Now
        }
    };
    notify::notify("STOPPING=1\n");
    let mut drain_expired = false;
    if let Stop::Drain(grace) = stop {
        let (next, expired) = stop::drain(&engine, &mut stops, grace).await;
        drain_expired = expired;
        stop = next.unwrap_or(Stop::Now);
    }
    let upgrade = stop == Stop::Upgrade;
    let plan = if upgrade {
        tracing::info!("upgrading: leaving every box running for the new binary to adopt");
        ShutdownPlan { leave_jobs: true, leave_services: true }
    } else {
        let leave_jobs = daemon.on_stop == stockade_spec::OnStop::Leave;
        if leave_jobs {
            tracing::info!(
                "stopping services in reverse dependency order; running jobs are left for the next daemon (on_stop = \"leave\")"
            );
        } else {
            tracing::info!("shutting down: stopping services in reverse dependency order");
        }
        ShutdownPlan { leave_jobs, leave_services: false }
    };
    monitor.stop();
    retention.stop().await;
    if let Some(cluster) = &cluster {
        // Jobs this host holds go back to the queue before its runs are
        // stopped (another host takes them at once); an upgrade or
        // `on_stop = "leave"` keeps them for the next daemon here.
        cluster.leave(plan.leave_jobs).await;
        for task in cluster_tasks {
            task.abort();
        }
    }
    let mut forced = stop == Stop::Force;
    if forced {
        stop::force(&store, &sandbox).await;
    }
    let shutdown = engine.shutdown_with(plan);
    tokio::pin!(shutdown);
    let report = loop {
        tokio::select! {
            report = &mut shutdown => break report,
            next = stops.next(), if !forced && !upgrade => {
                if next == Stop::Force {
                    forced = true;
                    stop::force(&store, &sandbox).await;
                }
            }
        }
    };
    let report = report.context("the engine ended before it could shut down")?;
    let _ = engine_task.await;
    sampler.abort();
    if let Some(task) = reloads {
        task.abort();
    }
    servers.stop().await;
    // The last handle closes the store, which joins its writer thread.
    let _ = tokio::task::spawn_blocking(move || drop(store)).await;
    if !upgrade && report.left.is_empty() && report.left_replicas == 0 {
        let release = tokio::task::spawn_blocking(move || sandbox.release()).await;
        if let Ok(Err(err)) = release {
            tracing::warn!(%err, "could not remove stockade's empty cgroup parent");
        }
    }
    Ok(Stopped { report, upgrade, forced, drain_expired })
}

fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))
}

fn explain_store_error(err: StoreError) -> anyhow::Error {
    match &err {
        StoreError::Locked { holder_pid, path } => anyhow::anyhow!(
            "stockade is already running (pid {}) on this state directory ({}); stop it first (`stockade down`), or give this spec its own `state_dir`",
            holder_pid.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into()),
            path.display()
        ),
        _ => anyhow::Error::new(err).context("cannot open the store"),
    }
}
