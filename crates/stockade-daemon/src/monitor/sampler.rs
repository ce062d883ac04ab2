//! The sampling loop: status in, alerts out, every `[monitor] interval`.

use super::restarts::RestartWatch;
use super::usage::{UsageWatch, Watched};
use std::time::Instant;
use stockade_engine::EngineHandle;
use stockade_proto::JobState;
use stockade_spec::MonitorConfig;
use stockade_store::JobFilter;
use tokio::time::MissedTickBehavior;

/// Sample until the engine ends.
pub(crate) async fn run(engine: EngineHandle, config: MonitorConfig) {
    let mut usage = UsageWatch::new(config.thresholds);
    let mut restarts = RestartWatch::new(config.max_restarts, config.restart_window);
    let mut tick = tokio::time::interval(config.interval);
    // A slow status answer (a busy engine) must not be followed by a burst
    // of catch-up samples: cpu rates over near-zero intervals are noise.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(status) = engine.status().await else { return };
        let running = JobFilter { states: vec![JobState::Running], ..JobFilter::default() };
        let Ok(jobs) = engine.jobs(running).await else { return };
        let now = Instant::now();
        let live: Vec<Watched> = (status.services.iter().filter_map(Watched::replica))
            .chain(jobs.iter().filter_map(Watched::job))
            .collect();
        let mut alerts = usage.observe(&live, now);
        alerts.extend(restarts.observe(&status.services, now));
        for alert in alerts {
            tracing::info!(unit = %alert.unit, level = alert.level, "{}", alert.message);
            let (unit, kind) = alert.into_event();
            if engine.record(&unit, kind).await.is_err() {
                return;
            }
        }
    }
}
