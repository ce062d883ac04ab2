//! The monitor's one loop: the engine's event broadcast, a sample every
//! `[monitor] interval` and the daemon's running spec, side by side in one
//! `select!`.
//!
//! - An event feeds the restart-rate alert and the count rules at once.
//! - A sample asks the engine for its status and running jobs (the engine
//!   reads each live box's cgroup counters) and feeds the usage thresholds,
//!   the leak detector and the level rules (pools from the status, the host
//!   from the daemon's host sampler); it also ages every window.
//! - A reload (a new running spec) hands over the new rules and `[monitor]`
//!   settings: see [`RuleSet::reload`]; the usage, restart and leak watches
//!   keep what they have seen and judge by the new settings from the next
//!   sample on.
//!
//! Usage, restart-rate and leak alerts run only with `[monitor] enabled`;
//! `[alert.NAME]` rules always do.

use super::Alert;
use super::restarts::RestartWatch;
use super::rules::board::AlertBoard;
use super::rules::leak::{LeakWatch, MemorySample};
use super::rules::{Change, HostLevels, Levels, RuleSet, Swap};
use super::usage::{UsageWatch, Watched};
use crate::reload::Loaded;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use stockade_engine::EngineHandle;
use stockade_proto::{Event, JobState, ReplicaView, StatusView, now_millis};
use stockade_spec::Spec;
use stockade_store::JobFilter;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

/// What the loop watches with.
pub(crate) struct Inputs {
    pub engine: EngineHandle,
    pub events: broadcast::Receiver<Event>,
    /// The daemon's running spec: its `[monitor]` and `[alert.NAME]`, and
    /// every reload's.
    pub spec: watch::Receiver<Loaded>,
    pub host: watch::Receiver<Option<HostLevels>>,
    pub board: AlertBoard,
}

struct Watches {
    usage: UsageWatch,
    restarts: RestartWatch,
    leaks: LeakWatch,
    rules: RuleSet,
    enabled: bool,
    interval: Duration,
}

/// Watch until the engine ends.
pub(crate) async fn run(inputs: Inputs) {
    let Inputs { engine, mut events, mut spec, host, board } = inputs;
    let running = spec.borrow_and_update().spec.clone();
    let mut w = Watches::new(&running, Instant::now());
    let mut tick = ticker(w.interval);
    let mut following = true;
    loop {
        let (alerts, changes) = tokio::select! {
            received = events.recv() => match received {
                Ok(event) => w.on_event(&event, Instant::now()),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "the monitor fell behind the event stream; restarts and job ends among them are not counted");
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                if !w.enabled && w.rules.is_empty() {
                    continue;
                }
                let Some(sample) = sample(&engine, &host, &w).await else { return };
                w.on_sample(&sample, Instant::now())
            }
            changed = spec.changed(), if following => {
                if changed.is_err() {
                    following = false;
                    continue;
                }
                let reloaded = spec.borrow_and_update().spec.clone();
                let before = w.interval;
                let (alerts, swap) = w.reload(&reloaded, Instant::now());
                if w.interval != before {
                    tick = ticker(w.interval);
                }
                if record(&engine, &board, alerts, swap.resolved).await.is_err() {
                    return;
                }
                // After the resolutions, so a removed rule's last word is
                // journaled before it leaves the board.
                for key in &swap.gone {
                    board.forget(key);
                }
                board.declare(&reloaded.alerts);
                continue;
            }
        };
        if record(&engine, &board, alerts, changes).await.is_err() {
            return;
        }
    }
}

fn ticker(every: Duration) -> Interval {
    let mut tick = tokio::time::interval(every);
    // A slow status answer (a busy engine) must not be followed by a burst
    // of catch-up samples: cpu rates over near-zero intervals are noise.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick
}

/// One sample's readings.
struct Sample {
    status: StatusView,
    jobs: Vec<stockade_proto::JobView>,
    host: Option<HostLevels>,
}

async fn sample(
    engine: &EngineHandle,
    host: &watch::Receiver<Option<HostLevels>>,
    w: &Watches,
) -> Option<Sample> {
    let status = engine.status().await.ok()?;
    let jobs = if w.enabled {
        let running = JobFilter { states: vec![JobState::Running], ..JobFilter::default() };
        engine.jobs(running).await.ok()?
    } else {
        Vec::new()
    };
    let host = if w.rules.reads_host() { *host.borrow() } else { None };
    Some(Sample { status, jobs, host })
}

impl Watches {
    fn new(spec: &Spec, now: Instant) -> Watches {
        let config = &spec.monitor;
        Watches {
            usage: UsageWatch::new(config.thresholds),
            restarts: RestartWatch::new(config.max_restarts, config.restart_window),
            leaks: LeakWatch::new(config.leak_horizon, config.leak_min_span),
            rules: RuleSet::new(&spec.alerts, now),
            enabled: config.enabled,
            interval: config.interval,
        }
    }

    /// Take a reloaded spec's rules and settings at `now`: what the rules
    /// resolve, and a `cleared` for every usage and restart alert when
    /// monitoring is turned off (its firing leaks resolve too).
    fn reload(&mut self, spec: &Spec, now: Instant) -> (Vec<Alert>, Swap) {
        let config = &spec.monitor;
        let mut swap = self.rules.reload(&spec.alerts, now);
        let mut alerts = Vec::new();
        if self.enabled && !config.enabled {
            alerts.extend(self.usage.stop());
            alerts.extend(self.restarts.stop());
            swap.resolved.extend(self.leaks.stop());
        }
        self.enabled = config.enabled;
        self.interval = config.interval;
        self.usage.set_thresholds(config.thresholds);
        self.restarts.set_limits(config.max_restarts, config.restart_window);
        self.leaks.set_bounds(config.leak_horizon, config.leak_min_span);
        (alerts, swap)
    }

    fn on_event(&mut self, event: &Event, now: Instant) -> (Vec<Alert>, Vec<Change>) {
        let alerts = if self.enabled { self.restarts.on_event(event, now) } else { Vec::new() };
        (alerts, self.rules.on_event(event, now))
    }

    fn on_sample(&mut self, s: &Sample, now: Instant) -> (Vec<Alert>, Vec<Change>) {
        let levels = Levels {
            pools: s.status.pools.iter().map(|p| (p.name.clone(), (p.queued, p.running))).collect(),
            host: s.host,
        };
        let mut changes = self.rules.on_sample(&levels, now);
        if !self.enabled {
            return (Vec::new(), changes);
        }
        let live: Vec<Watched> = (s.status.services.iter().filter_map(Watched::replica))
            .chain(s.jobs.iter().filter_map(Watched::job))
            .collect();
        let mut alerts = self.usage.observe(&live, now);
        alerts.extend(self.restarts.tick(now));
        changes.extend(self.leaks.observe(&memory_samples(&s.status.services), now));
        (alerts, changes)
    }
}

/// The memory of every live replica with a memory limit (`None` where its
/// counters could not be read this time).
fn memory_samples(replicas: &[ReplicaView]) -> Vec<MemorySample> {
    let mut siblings: BTreeMap<&str, usize> = BTreeMap::new();
    for r in replicas {
        *siblings.entry(&r.service).or_default() += 1;
    }
    replicas
        .iter()
        .filter_map(|r| {
            let unit = format!("{}[{}]", r.service, r.replica);
            let name =
                if siblings[r.service.as_str()] == 1 { r.service.clone() } else { unit.clone() };
            Some(MemorySample {
                unit,
                name,
                run: r.run?,
                bytes: r.usage.as_ref().and_then(|u| u.memory_current),
                limit: r.limits.memory?,
            })
        })
        .collect()
}

/// Journal the alerts and changes as events (so they are streamed and go
/// to the webhook) and put the changes on the board.
async fn record(
    engine: &EngineHandle,
    board: &AlertBoard,
    alerts: Vec<Alert>,
    changes: Vec<Change>,
) -> Result<(), stockade_engine::EngineError> {
    for alert in alerts {
        tracing::info!(unit = %alert.unit, level = alert.level, "{}", alert.message);
        let (unit, kind) = alert.into_event();
        engine.record(&unit, kind).await?;
    }
    for change in changes {
        tracing::info!(alert = %change.alert, unit = %change.unit, firing = change.firing, "{}", change.message);
        board.apply(&change, now_millis());
        // A replica's alert is journaled under its service, like its other events.
        let unit = change.unit.split('[').next().unwrap_or_default().to_owned();
        engine.record(&unit, change.event()).await?;
    }
    Ok(())
}
