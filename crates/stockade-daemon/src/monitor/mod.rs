//! The monitor: usage alerts, the restart-rate alert and the webhook
//! (issue 5, item 3). [`Monitor::start`] spawns its tasks beside the engine;
//! none of them is ever awaited by the engine.
//!
//! - `sampler` asks the engine for its status and its running jobs every
//!   `[monitor] interval` (the engine reads each live box's cgroup counters)
//!   and feeds [`usage::UsageWatch`] (cpu, memory and tasks of every service
//!   replica and running job in percent of its box's limits, with `level`
//!   hysteresis) and [`restarts::RestartWatch`] (services only). Their
//!   [`Alert`]s are recorded as `alert` events through the engine, so they are
//!   journaled and streamed like every other event.
//! - `webhook` follows the event broadcast and POSTs alerts and abnormal exits
//!   to `[monitor] webhook`, from a bounded queue that drops its oldest entry
//!   rather than grow or hold anyone up.
//!
//! Alerts about a job name its template as the unit and `job ID` in the message.

mod level;
mod reading;
mod restarts;
mod sampler;
mod usage;
mod webhook;

use stockade_engine::EngineHandle;
use stockade_proto::EventKind;
use stockade_spec::MonitorConfig;
use tokio::task::JoinHandle;

/// One alert to record: `level` is `warning`, `critical` or `cleared`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Alert {
    /// The service it is about.
    pub unit: String,
    /// `warning`, `critical` or `cleared`.
    pub level: &'static str,
    /// What crossed what, with the numbers.
    pub message: String,
}

impl Alert {
    fn into_event(self) -> (String, EventKind) {
        (self.unit, EventKind::Alert { level: self.level.to_owned(), message: self.message })
    }
}

/// The monitor's running tasks.
#[derive(Debug)]
pub(crate) struct Monitor {
    tasks: Vec<JoinHandle<()>>,
}

impl Monitor {
    /// Start sampling (unless `[monitor] enabled = false`) and, with a
    /// webhook configured, delivering. The webhook subscribes to the event
    /// broadcast here, so it sees every event committed from now on.
    pub(crate) fn start(
        engine: &EngineHandle,
        config: &MonitorConfig,
        codes: webhook::SuccessCodes,
    ) -> Monitor {
        let mut tasks = Vec::new();
        if config.enabled {
            tasks.push(tokio::spawn(sampler::run(engine.clone(), config.clone())));
        }
        if let Some(webhook) = &config.webhook {
            let events = engine.subscribe();
            tasks.push(tokio::spawn(webhook::run(engine.clone(), events, webhook.clone(), codes)));
        }
        Monitor { tasks }
    }

    /// Stop every task. Alerts still queued for the webhook are dropped: the
    /// daemon is going away and must not wait on a receiver to do so.
    pub(crate) fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}
