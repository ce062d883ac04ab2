//! The monitor: usage alerts, the restart-rate alert, alert rules, the leak
//! detector and the webhook (issue 5, item 3; issue 14, item 3).
//! [`Monitor::start`] spawns its tasks beside the engine; none of them is
//! ever awaited by the engine.
//!
//! - `sampler` is one loop over the engine's event broadcast, a sample
//!   every `[monitor] interval` and the daemon's running spec (a reload
//!   hands it new rules and settings). Events feed [`restarts::RestartWatch`] (the
//!   restart-rate alert) and the count rules of [`rules::RuleSet`]; samples
//!   (the engine's status and running jobs, the host's levels) feed
//!   [`usage::UsageWatch`] (cpu, memory and tasks of every service replica
//!   and running job in percent of its box's limits, with `level`
//!   hysteresis), the leak detector and the level rules. Usage and
//!   restart-rate [`Alert`]s are recorded as `alert` events; rules and leaks
//!   as `alert_firing` / `alert_resolved`, and on the [`AlertBoard`] that
//!   `/api/status` and `/metrics` read.
//! - `webhook` follows the event broadcast and POSTs alerts and abnormal exits
//!   to `[monitor] webhook`, from a bounded queue that drops its oldest entry
//!   rather than grow or hold anyone up.
//!
//! Alerts about a job name its template as the unit and `job ID` in the message.

mod level;
mod reading;
mod restarts;
pub(crate) mod rules;
mod sampler;
mod usage;
mod webhook;

use crate::reload::Loaded;
pub(crate) use rules::HostLevels;
pub use rules::board::AlertBoard;
use stockade_engine::EngineHandle;
use stockade_proto::EventKind;
use tokio::sync::watch;
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
    /// Start watching and, with a webhook configured, delivering. Both
    /// subscribe to the event broadcast here, so they see every event
    /// committed from now on. The watching loop follows `spec`, the
    /// daemon's running spec: a reload's `[alert.NAME]` rules and
    /// `[monitor]` settings apply at once; the webhook is the one the daemon
    /// started with.
    pub(crate) fn start(
        engine: &EngineHandle,
        spec: watch::Receiver<Loaded>,
        host: watch::Receiver<Option<HostLevels>>,
        board: AlertBoard,
        codes: webhook::SuccessCodes,
    ) -> Monitor {
        let webhook = spec.borrow().spec.monitor.webhook.clone();
        let inputs = sampler::Inputs {
            engine: engine.clone(),
            events: engine.subscribe(),
            spec,
            host,
            board,
        };
        let mut tasks = vec![tokio::spawn(sampler::run(inputs))];
        if let Some(webhook) = webhook {
            let events = engine.subscribe();
            tasks.push(tokio::spawn(webhook::run(engine.clone(), events, webhook, codes)));
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
